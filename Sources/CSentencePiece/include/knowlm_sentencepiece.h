#ifndef KNOWLM_SENTENCEPIECE_H
#define KNOWLM_SENTENCEPIECE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Opaque handle to a loaded SentencePiece processor.
typedef struct kspm_processor kspm_processor;

/// Status codes; anything but KSPM_OK leaves a message in the caller's buffer.
enum { KSPM_OK = 0, KSPM_ERROR = 1, KSPM_BUFFER_TOO_SMALL = 2 };

/// Load a `tokenizer.model` file (Swift reads files itself and prefers kspm_load_serialized). Returns NULL and writes a message into `err` on failure.
kspm_processor *kspm_load_file(const char *path, char *err, size_t err_cap);
/// Load a serialized ModelProto held in memory.
kspm_processor *kspm_load_serialized(const void *data, size_t size, char *err, size_t err_cap);
void kspm_free(kspm_processor *p);

/// Encode UTF-8 text into ids. When `cap` is too small, returns KSPM_BUFFER_TOO_SMALL and sets
/// `*count` to the number needed.
int kspm_encode(const kspm_processor *p, const char *text, size_t len,
                int32_t *ids, size_t cap, size_t *count, char *err, size_t err_cap);

int32_t kspm_piece_count(const kspm_processor *p);
/// Copies the piece text (not NUL-terminated) and returns its byte length, or -1 for a bad id.
int32_t kspm_id_to_piece(const kspm_processor *p, int32_t id, char *buf, size_t cap);
float kspm_score(const kspm_processor *p, int32_t id);
/// 1 normal (or user-defined), 2 unknown, 3 control, 5 unused, 6 byte (SentencePiece's numbering).
int32_t kspm_piece_type(const kspm_processor *p, int32_t id);
int32_t kspm_unk_id(const kspm_processor *p);
int32_t kspm_bos_id(const kspm_processor *p);
int32_t kspm_eos_id(const kspm_processor *p);
int32_t kspm_pad_id(const kspm_processor *p);

#ifdef __cplusplus
}
#endif
#endif
