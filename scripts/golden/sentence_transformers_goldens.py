"""Reference embeddings for all-MiniLM-L6-v2 from sentence-transformers (torch, CPU, float32).

    /work/refvenv/bin/python scripts/golden/sentence_transformers_goldens.py

Writes Tests/KnowLMRuntimeTests/Fixtures/golden/minilm_sentence_transformers.json: the model
folder's sha256, and for each sentence its embedding (6 significant digits). Sentences cover
English, Chinese, accents, punctuation, and inputs long enough to truncate at 256 tokens.
"""
import hashlib, json, os, sys

import torch
from sentence_transformers import SentenceTransformer

torch.set_num_threads(2)
folder = os.path.expanduser(os.environ.get("KNOWLM_HOME", "~/.cache/knowlm") + "/models/all-MiniLM-L6-v2")
root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
out = os.path.join(root, "Tests/KnowLMRuntimeTests/Fixtures/golden/minilm_sentence_transformers.json")

long_en = " ".join(["The Great Wall of China is a series of fortifications built across the historical northern borders of ancient Chinese states."] * 12)
long_zh = "长城是中国古代的军事防御工程，" * 40
sentences = [
    "What is the capital of Peru?", "Lima is the capital and largest city of Peru.",
    "The cat sits on the mat.", "A dog is playing in the park.", "Quantum mechanics describes nature at small scales.",
    "I love programming in Swift!", "Café au lait, naïve résumé, jalapeño — accents everywhere.",
    "Zürich is Switzerland's largest city.", "São Paulo é a maior cidade do Brasil.",
    "浙江大学位于杭州。", "北京是中国的首都。", "我喜欢吃苹果和香蕉。", "东京是日本的首都，也是最大的城市。",
    "Hangzhou 杭州 is a city in Zhejiang 浙江.", "E=mc^2 relates energy and mass.", "1234567890 numbers 3.14159",
    "   leading and trailing spaces   ", "UPPER CASE SENTENCE WITH WORDS", "emoji 😀 and symbols ©®™",
    "Which currency is used in the country where Osaka is?", "The Japanese yen is the official currency of Japan.",
    "Arthur's Magazine (1844–1846) was an American literary periodical published in Philadelphia in the 19th century.",
    "First for Women is a woman's magazine published by Bauer Media Group in the USA.",
    "Tab\tseparated\ttext and new\nlines", "supercalifragilisticexpialidocious antidisestablishmentarianism",
    "Москва — столица России.", "Το Αιγαίο πέλαγος", "한국어 문장입니다.", "Short.", "a",
    long_en, long_zh, long_en + " " + long_zh,
]
model = SentenceTransformer(folder, device="cpu")
vectors = model.encode(sentences, batch_size=64, convert_to_numpy=True, normalize_embeddings=True)
sha = hashlib.sha256(open(os.path.join(folder, "model.safetensors"), "rb").read()).hexdigest()
data = {
    "reference": {"sentence_transformers": __import__("sentence_transformers").__version__, "torch": torch.__version__,
                  "model_safetensors_sha256": sha, "max_seq_length": model.max_seq_length},
    "cases": [{"text": s, "embedding": [float(f"{x:.6g}") for x in v]} for s, v in zip(sentences, vectors)],
}
os.makedirs(os.path.dirname(out), exist_ok=True)
with open(out, "w", encoding="utf-8") as f:
    json.dump(data, f, ensure_ascii=False, separators=(",", ":"))
print(out, len(sentences), "sentences")
