#!/usr/bin/env python3
"""Writes Sources/KnowLMServer/Web/openapi.json, the OpenAPI 3.1 document `knowlm serve` serves at
/openapi.json. Edit here, run it, commit both. Checked with schemathesis (BENCHMARKS.md, "Serving")."""
import json
err = {"$ref": "#/components/responses/Error"}
def errors(*codes):
    return {str(c): err for c in codes}
def jbody(ref, required=True):
    return {"required": required, "content": {"application/json": {"schema": {"$ref": ref}}}}
def ok(ref, stream=False, desc="OK"):
    content = {"application/json": {"schema": {"$ref": ref}}}
    if stream:
        content["text/event-stream"] = {"schema": {"type": "object", "required": ["data"], "properties": {"data": {"type": "string"}, "event": {"type": "string"}},
                                                   "description": "Server-sent events: `data: {json}` per event, then `data: [DONE]`."}}
    return {"description": desc, "content": content}
gen_errors = errors(400, 401, 404, 413, 429, 504)
num = lambda lo, hi: {"type": "number", "minimum": lo, "maximum": hi}
stop = {"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}, "maxItems": 4}, {"type": "null"}]}
sampling = {
    "temperature": {"type": ["number", "null"], "minimum": 0, "maximum": 2},
    "top_p": {"type": ["number", "null"], "exclusiveMinimum": 0, "maximum": 1},
    "top_k": {"type": ["integer", "null"], "minimum": 0, "maximum": 100000},
    "min_p": {"type": ["number", "null"], "minimum": 0, "maximum": 0.999},
    "repeat_penalty": {"type": ["number", "null"], "exclusiveMinimum": 0, "maximum": 100},
    "frequency_penalty": {"type": ["number", "null"], "minimum": -2, "maximum": 2},
    "presence_penalty": {"type": ["number", "null"], "minimum": -2, "maximum": 2},
    "seed": {"type": ["integer", "null"], "minimum": -9223372036854775808, "maximum": 9223372036854775807},
    "stop": stop,
    "n": {"type": ["integer", "null"], "minimum": 1, "maximum": 1},
    "stream": {"type": ["boolean", "null"]},
    "stream_options": {"type": ["object", "null"], "properties": {"include_usage": {"type": ["boolean", "null"]}}},
    "model": {"type": ["string", "null"]},
}
usage = {"type": "object", "required": ["prompt_tokens", "completion_tokens", "total_tokens"],
         "properties": {k: {"type": "integer"} for k in ["prompt_tokens", "completion_tokens", "total_tokens"]}}
spec = {
  "openapi": "3.1.0",
  "info": {"title": "KnowLM-Swift server", "version": "1.0.0",
           "description": "`knowlm serve`: KnowLM's /generate API, the OpenAI-compatible API, and the knowledge base. Every error is an OpenAI error object; with an API key, every path but /health needs `Authorization: Bearer KEY`."},
  "components": {
    "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
    "responses": {"Error": {"description": "An error (OpenAI's error object)", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}},
    "schemas": {
      "Error": {"type": "object", "required": ["error"], "properties": {"error": {"type": "object", "required": ["message", "type"], "properties": {
          "message": {"type": "string"}, "type": {"type": "string"}, "param": {"type": ["string", "null"]}, "code": {"type": ["string", "null"]}}}}},
      "GenerateRequest": {"type": "object", "required": ["instruction"], "properties": {
          "instruction": {"type": "string"}, "input": {"type": ["string", "null"]}, "stream": {"type": ["boolean", "null"]},
          "parameters": {"type": ["object", "null"], "properties": {
              "temperature": {"type": ["number", "null"], "minimum": 0, "maximum": 100},
              "top_p": {"type": ["number", "null"], "exclusiveMinimum": 0, "maximum": 1},
              "top_k": {"type": ["integer", "null"], "minimum": 0, "maximum": 100000},
              "max_tokens": {"type": ["integer", "null"], "minimum": 1, "maximum": 1000000},
              "max_new_tokens": {"type": ["integer", "null"], "minimum": 1, "maximum": 1000000},
              "num_beams": {"type": ["integer", "null"], "minimum": 1, "maximum": 8},
              "repetition_penalty": {"type": ["number", "null"], "exclusiveMinimum": 0, "maximum": 100},
              "seed": {"type": ["integer", "null"], "minimum": 0}, "stop": stop, "do_sample": {"type": ["boolean", "null"]}}}}},
      "GenerateResponse": {"type": "object", "required": ["generated_text", "num_output_tokens_cf", "error"], "properties": {
          "generated_text": {"type": "string"}, "num_output_tokens_cf": {"type": "integer"}, "error": {"type": ["string", "null"]}}},
      "KnowLMError": {"type": "object", "required": ["generated_text", "num_output_tokens_cf", "error"], "properties": {
          "generated_text": {"type": "string"}, "num_output_tokens_cf": {"type": "integer"}, "error": {"type": "string"}}},
      "Model": {"type": "object", "required": ["id", "object", "created", "owned_by"], "properties": {
          "id": {"type": "string"}, "object": {"const": "model"}, "created": {"type": "integer"}, "owned_by": {"type": "string"}}},
      "ModelList": {"type": "object", "required": ["object", "data"], "properties": {"object": {"const": "list"}, "data": {"type": "array", "items": {"$ref": "#/components/schemas/Model"}}}},
      "CompletionRequest": {"type": "object", "required": ["prompt"], "properties": dict(sampling, **{
          "prompt": {"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}, "minItems": 1, "maxItems": 1}]},
          "max_tokens": {"type": ["integer", "null"], "minimum": 1, "maximum": 1000000},
          "logprobs": {"type": ["integer", "null"], "minimum": 0, "maximum": 20},
          "echo": {"type": ["boolean", "null"]}})},
      "Completion": {"type": "object", "required": ["id", "object", "created", "model", "choices"], "properties": {
          "id": {"type": "string"}, "object": {"const": "text_completion"}, "created": {"type": "integer"}, "model": {"type": "string"},
          "choices": {"type": "array", "items": {"type": "object", "required": ["index", "text", "finish_reason"], "properties": {
              "index": {"type": "integer"}, "text": {"type": "string"}, "logprobs": {"type": ["object", "null"]},
              "finish_reason": {"type": ["string", "null"]}}}}, "usage": usage}},
      "ChatMessage": {"type": "object", "required": ["role"], "properties": {
          "role": {"enum": ["system", "developer", "user", "assistant", "tool"]},
          "content": {"oneOf": [{"type": "string"}, {"type": "null"}, {"type": "array", "items": {"type": "object", "required": ["type", "text"], "properties": {"type": {"const": "text"}, "text": {"type": "string"}}}}]},
          "tool_calls": {"type": ["array", "null"]}, "tool_call_id": {"type": ["string", "null"]}, "name": {"type": ["string", "null"]}}},
      "ChatRequest": {"type": "object", "required": ["messages"], "properties": dict(sampling, **{
          "messages": {"type": "array", "minItems": 1, "items": {"$ref": "#/components/schemas/ChatMessage"}},
          "max_tokens": {"type": ["integer", "null"], "minimum": 1, "maximum": 1000000},
          "max_completion_tokens": {"type": ["integer", "null"], "minimum": 1, "maximum": 1000000},
          "logprobs": {"type": ["boolean", "null"]}, "top_logprobs": {"type": ["integer", "null"], "minimum": 0, "maximum": 20},
          "response_format": {"type": ["object", "null"], "required": ["type"], "properties": {"type": {"enum": ["text", "json_object", "json_schema"]},
              "json_schema": {"type": "object", "required": ["schema"], "properties": {"name": {"type": "string"}, "schema": {"type": "object"}, "strict": {"type": ["boolean", "null"]}}}}},
          "tools": {"type": ["array", "null"], "items": {"type": "object", "required": ["type", "function"], "properties": {"type": {"const": "function"},
              "function": {"type": "object", "required": ["name"], "properties": {"name": {"type": "string", "minLength": 1, "maxLength": 64}, "description": {"type": "string"}, "parameters": {"type": "object"}}}}}},
          "tool_choice": {"oneOf": [{"enum": ["none", "auto", "required"]}, {"type": "null"}, {"type": "object", "required": ["type", "function"], "properties": {"type": {"const": "function"}, "function": {"type": "object", "required": ["name"], "properties": {"name": {"type": "string"}}}}}]}})},
      "ChatCompletion": {"type": "object", "required": ["id", "object", "created", "model", "choices"], "properties": {
          "id": {"type": "string"}, "object": {"const": "chat.completion"}, "created": {"type": "integer"}, "model": {"type": "string"},
          "choices": {"type": "array", "items": {"type": "object", "required": ["index", "message", "finish_reason"], "properties": {
              "index": {"type": "integer"}, "finish_reason": {"type": "string"}, "logprobs": {"type": ["object", "null"]},
              "message": {"type": "object", "required": ["role"], "properties": {"role": {"const": "assistant"}, "content": {"type": ["string", "null"]}, "tool_calls": {"type": "array"}}}}}},
          "usage": usage}},
      "EmbeddingRequest": {"type": "object", "required": ["input"], "properties": {
          "input": {"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}, "minItems": 1, "maxItems": 2048}]},
          "model": {"type": ["string", "null"]}, "encoding_format": {"enum": ["float", "base64", None]}, "dimensions": {"type": ["integer", "null"], "minimum": 1}}},
      "EmbeddingList": {"type": "object", "required": ["object", "data", "model", "usage"], "properties": {
          "object": {"const": "list"}, "model": {"type": "string"},
          "data": {"type": "array", "items": {"type": "object", "required": ["object", "index", "embedding"], "properties": {
              "object": {"const": "embedding"}, "index": {"type": "integer"}, "embedding": {"oneOf": [{"type": "array", "items": {"type": "number"}}, {"type": "string"}]}}}},
          "usage": {"type": "object"}}},
      "AskRequest": {"type": "object", "required": ["question"], "properties": {"question": {"type": "string", "minLength": 1, "maxLength": 2000}}},
      "Answer": {"type": "object", "required": ["answer", "citations", "supported", "decided_by"], "properties": {
          "answer": {"type": "string"}, "supported": {"type": "boolean"}, "decided_by": {"type": "string"},
          "citations": {"type": "array", "items": {"type": "object", "required": ["id", "kind", "text"], "properties": {"id": {"type": "string"}, "kind": {"type": "string"}, "text": {"type": "string"}}}}}},
      "Passages": {"type": "object", "required": ["data"], "properties": {"data": {"type": "array", "items": {"type": "object", "required": ["chunk_id", "document_id", "title", "source", "text", "score"], "properties": {
          "chunk_id": {"type": "integer"}, "document_id": {"type": "integer"}, "title": {"type": "string"}, "source": {"type": "string"}, "text": {"type": "string"}, "score": {"type": "number"}}}}}},
      "SparqlRequest": {"type": "object", "required": ["query"], "properties": {"query": {"type": "string"}}},
      "SparqlResult": {"type": "object", "required": ["variables", "rows"], "properties": {"variables": {"type": "array", "items": {"type": "string"}},
          "rows": {"type": "array", "items": {"type": "array", "items": {"type": ["string", "null"]}}}}},
      "ExtractRequest": {"type": "object", "required": ["task", "schema", "text"], "properties": {
          "task": {"enum": ["ner", "re", "ee", "eet", "eea", "kg", "spo", "NER", "RE", "EE", "EET", "EEA", "KG", "SPO"]},
          "schema": {"oneOf": [{"type": "string", "minLength": 1}, {"type": "array", "minItems": 1}, {"type": "object", "minProperties": 1}]},
          "text": {"type": "string"}, "language": {"enum": ["en", "zh", None]}, "max_tokens": {"type": ["integer", "null"], "minimum": 8, "maximum": 4096},
          "to_kg": {"type": ["boolean", "null"]}, "document": {"type": ["string", "null"]}}},
      "Extraction": {"type": "object", "required": ["task", "result", "spans", "warnings"], "properties": {
          "task": {"type": "string"}, "result": {}, "warnings": {"type": "array", "items": {"type": "string"}}, "model_calls": {"type": "integer"},
          "spans": {"type": "array", "items": {"type": "object", "required": ["text", "label", "start", "end"], "properties": {
              "text": {"type": "string"}, "label": {"type": "string"}, "start": {"type": "integer"}, "end": {"type": "integer"}}}},
          "stored": {"type": "object", "properties": {"document": {"type": "string"}, "facts": {"type": "integer"}, "added": {"type": "integer"}, "removed": {"type": "integer"}}}}},
      "DetectRequest": {"type": "object", "required": ["answer"], "properties": {
          "question": {"type": ["string", "null"]}, "answer": {"type": "string", "minLength": 1, "maxLength": 20000}, "use_model": {"type": ["boolean", "null"]}}},
      "Verification": {"type": "object", "required": ["response_label", "claims"], "properties": {
          "response_label": {"enum": ["hallucination", "non-hallucination"]},
          "claims": {"type": "array", "items": {"type": "object", "required": ["text", "label", "evidence", "reason"], "properties": {
              "text": {"type": "string"}, "label": {"type": "string"}, "evidence": {"type": "array", "items": {"type": "string"}}, "reason": {"type": "string"}, "scores": {"type": "object"}}}}}},
      "AgentRunRequest": {"type": "object", "required": ["task"], "properties": {
          "task": {"type": "string", "minLength": 1, "maxLength": 4000},
          "tools": {"type": ["array", "null"], "items": {"enum": ["kg_query", "kg_neighbors", "kb_search", "ask", "calculator", "current_time", "extract"]}},
          "functions": {"type": ["array", "null"], "items": {"type": "object"}, "description": "Functions the caller answers (OpenAI tools format); calling one ends the run."},
          "max_steps": {"type": ["integer", "null"], "minimum": 1, "maximum": 12}, "verify": {"type": ["boolean", "null"]}, "knowledge_first": {"type": ["boolean", "null"]}, "stream": {"type": ["boolean", "null"]}}},
      "AgentRun": {"type": "object", "required": ["answer", "outcome", "steps", "verification", "seconds"], "properties": {
          "run_id": {"type": "string"}, "answer": {"type": ["string", "null"]}, "outcome": {"enum": ["answered", "forced", "call", "failed", "cancelled"]},
          "steps": {"type": "array", "items": {"type": "object", "required": ["step", "thought", "outcome"]}},
          "verification": {"oneOf": [{"$ref": "#/components/schemas/Verification"}, {"type": "null"}]},
          "call": {"type": "object"}, "error": {"type": "string"}, "seconds": {"type": "number"}}},
      "AgentRunList": {"type": "object", "required": ["data"], "properties": {"data": {"type": "array", "items": {"type": "object", "required": ["id", "task", "outcome"]}}}},
      "AgentRunRecord": {"type": "object", "required": ["run", "steps"], "properties": {
          "run": {"type": "object", "required": ["id", "task", "model", "outcome", "started_at"]}, "steps": {"type": "array", "items": {"type": "object"}}}},
      "DocumentsRequest": {"description": "Several documents, or one document's fields as the body (not both).", "oneOf": [
          {"type": "object", "required": ["documents"], "properties": {"documents": {"type": "array", "minItems": 1, "maxItems": 1000, "items": {"$ref": "#/components/schemas/Document"}}},
           "not": {"anyOf": [{"required": ["text"]}, {"required": ["title"]}, {"required": ["source"]}, {"required": ["format"]}]}},
          {"$ref": "#/components/schemas/Document"}]},
      "Document": {"type": "object", "required": ["text"], "properties": {
          "text": {"type": "string", "minLength": 1}, "title": {"type": ["string", "null"]}, "source": {"type": ["string", "null"]}, "format": {"enum": ["text", "markdown", "html", None]}}},
      "IngestReport": {"type": "object", "required": ["documents_added", "documents_replaced", "documents_unchanged", "chunks"], "properties": {
          "documents_added": {"type": "integer"}, "documents_replaced": {"type": "integer"}, "documents_unchanged": {"type": "integer"}, "chunks": {"type": "integer"}, "seconds": {"type": "number"}}},
      "TriplesRequest": {"type": "object", "properties": {
          "triples": {"type": ["array", "null"], "minItems": 1, "items": {"type": "object", "required": ["subject", "predicate", "object"], "properties": {
              "subject": {"type": "string", "minLength": 1}, "predicate": {"type": "string", "minLength": 1}, "object": {}}}},
          "data": {"type": ["string", "null"], "minLength": 1}, "format": {"enum": ["nt", "nq", "tsv", "csv", "jsonl", None]},
          "source": {"type": ["string", "null"], "minLength": 1, "maxLength": 200, "pattern": "^[^/]*$"}, "replace": {"type": ["boolean", "null"]}, "skip_bad": {"type": ["boolean", "null"]}}},
      "TripleImport": {"type": "object", "required": ["source", "lines", "triples", "added", "removed", "already_imported", "skipped"], "properties": {
          "source": {"type": "string"}, "lines": {"type": "integer"}, "triples": {"type": "integer"}, "added": {"type": "integer"}, "removed": {"type": "integer"},
          "already_imported": {"type": "boolean"}, "seconds": {"type": "number"},
          "skipped": {"type": "array", "items": {"type": "object", "properties": {"line": {"type": "integer"}, "reason": {"type": "string"}}}}}},
      "Health": {"type": "object", "required": ["status"], "properties": {"status": {"const": "ok"}, "model": {"type": ["string", "null"]}, "knowledge_base": {"type": "boolean"}, "requests_in_hand": {"type": "integer"}}},
    }},
  "security": [{"bearer": []}, {}],
  "paths": {
    "/health": {"get": {"operationId": "health", "security": [], "responses": {"200": ok("#/components/schemas/Health")}}},
    "/metrics": {"get": {"operationId": "metrics", "responses": {"200": {"description": "Prometheus text format", "content": {"text/plain": {"schema": {"type": "string"}}}}, **errors(401)}}},
    "/": {"get": {"operationId": "webPage", "responses": {"200": {"description": "The web page", "content": {"text/html": {"schema": {"type": "string"}}}}, **errors(401)}}},
    "/openapi.json": {"get": {"operationId": "openapi", "responses": {"200": {"description": "This document", "content": {"application/json": {"schema": {"type": "object"}}}}, **errors(401)}}},
    "/generate": {"post": {"operationId": "generate", "summary": "KnowLM's API: an instruction (and optional input) answered with KnowLM's instruction prompt.",
        "requestBody": jbody("#/components/schemas/GenerateRequest"),
        "responses": {"200": ok("#/components/schemas/GenerateResponse", stream=True),
                      **{str(c): {"description": "An error in KnowLM's shape", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/KnowLMError"}}}} for c in [400, 404, 413, 429, 504]}, **errors(401)}}},
    "/v1/models": {"get": {"operationId": "listModels", "responses": {"200": ok("#/components/schemas/ModelList"), **errors(401)}}},
    "/v1/models/{id}": {"get": {"operationId": "getModel", "parameters": [{"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}],
        "responses": {"200": ok("#/components/schemas/Model"), **errors(401, 404)}}},
    "/v1/completions": {"post": {"operationId": "createCompletion", "requestBody": jbody("#/components/schemas/CompletionRequest"),
        "responses": {"200": ok("#/components/schemas/Completion", stream=True), **gen_errors}}},
    "/v1/chat/completions": {"post": {"operationId": "createChatCompletion", "requestBody": jbody("#/components/schemas/ChatRequest"),
        "responses": {"200": ok("#/components/schemas/ChatCompletion", stream=True), **gen_errors}}},
    "/v1/embeddings": {"post": {"operationId": "createEmbedding", "requestBody": jbody("#/components/schemas/EmbeddingRequest"),
        "responses": {"200": ok("#/components/schemas/EmbeddingList"), **errors(400, 401, 404, 413, 429)}}},
    "/v1/ask": {"post": {"operationId": "ask", "summary": "Answer from the knowledge base with citations.", "requestBody": jbody("#/components/schemas/AskRequest"),
        "responses": {"200": ok("#/components/schemas/Answer"), **errors(400, 401, 404, 413, 429, 504)}}},
    "/v1/kb/search": {"get": {"operationId": "searchPassages", "parameters": [
        {"name": "q", "in": "query", "required": True, "schema": {"type": "string", "minLength": 1}},
        {"name": "limit", "in": "query", "required": False, "schema": {"type": "integer", "minimum": 1, "maximum": 100}}],
        "responses": {"200": ok("#/components/schemas/Passages"), **errors(400, 401, 404)}}},
    "/v1/kb/sparql": {"post": {"operationId": "sparql", "requestBody": jbody("#/components/schemas/SparqlRequest"),
        "responses": {"200": ok("#/components/schemas/SparqlResult"), **errors(400, 401, 404, 413)}}},
    "/v1/kb/documents": {"post": {"operationId": "addDocuments", "summary": "Store documents: chunked, full-text indexed and embedded, in one transaction.",
        "requestBody": jbody("#/components/schemas/DocumentsRequest"),
        "responses": {"200": ok("#/components/schemas/IngestReport"), **errors(400, 401, 404, 413, 429, 504)}}},
    "/v1/kb/triples": {"post": {"operationId": "addTriples", "summary": "Import triples in one transaction (a bad line rejects the upload unless skip_bad).",
        "requestBody": jbody("#/components/schemas/TriplesRequest"),
        "responses": {"200": ok("#/components/schemas/TripleImport"), **errors(400, 401, 404, 413, 429, 504)}}},
    "/v1/extract": {"post": {"operationId": "extract", "summary": "Schema-based extraction in the OneKE format (NER, RE, EE, …), optionally stored in the graph.",
        "requestBody": jbody("#/components/schemas/ExtractRequest"),
        "responses": {"200": ok("#/components/schemas/Extraction"), **gen_errors}}},
    "/v1/detect": {"post": {"operationId": "detect", "summary": "Check an answer claim by claim against the knowledge base.",
        "requestBody": jbody("#/components/schemas/DetectRequest"),
        "responses": {"200": ok("#/components/schemas/Verification"), **gen_errors}}},
    "/v1/agent/runs": {
        "post": {"operationId": "createAgentRun", "summary": "Run the tool-using agent; with stream, server-sent events of run.created, each step and run.completed.",
            "requestBody": jbody("#/components/schemas/AgentRunRequest"),
            "responses": {"200": ok("#/components/schemas/AgentRun", stream=True), **gen_errors}},
        "get": {"operationId": "listAgentRuns", "parameters": [{"name": "limit", "in": "query", "required": False, "schema": {"type": "integer", "minimum": 1, "maximum": 500}}],
            "responses": {"200": ok("#/components/schemas/AgentRunList"), **errors(400, 401, 404)}}},
    "/v1/agent/runs/{id}": {"get": {"operationId": "getAgentRun", "parameters": [{"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}],
        "responses": {"200": ok("#/components/schemas/AgentRunRecord"), **errors(401, 404)}}},
  }}
import os
out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Sources", "KnowLMServer", "Web", "openapi.json")
json.dump(spec, open(out, "w"), indent=1)
print("ok")
