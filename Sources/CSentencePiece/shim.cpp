// The only place C++ meets the rest of KnowLM: every entry point catches, so no exception
// ever unwinds into Swift.
#include "knowlm_sentencepiece.h"

#include <sentencepiece_processor.h>

#include <cstring>
#include <exception>
#include <memory>
#include <string>

struct kspm_processor {
    sentencepiece::SentencePieceProcessor sp;
};

namespace {

void write_error(char *err, size_t cap, const std::string &message) {
    if (err == nullptr || cap == 0) return;
    size_t n = message.size() < cap - 1 ? message.size() : cap - 1;
    std::memcpy(err, message.data(), n);
    err[n] = '\0';
}

bool valid_id(const kspm_processor *p, int32_t id) {
    return p != nullptr && id >= 0 && id < p->sp.GetPieceSize();
}

kspm_processor *finish_load(std::unique_ptr<kspm_processor> proc, const sentencepiece::util::Status &status,
                            char *err, size_t err_cap) {
    if (!status.ok()) {
        write_error(err, err_cap, status.ToString());
        return nullptr;
    }
    return proc.release();
}

} // namespace

extern "C" kspm_processor *kspm_load_file(const char *path, char *err, size_t err_cap) {
    try {
        auto proc = std::make_unique<kspm_processor>();
        auto status = proc->sp.Load(path);
        return finish_load(std::move(proc), status, err, err_cap);
    } catch (const std::exception &e) {
        write_error(err, err_cap, e.what());
    } catch (...) {
        write_error(err, err_cap, "unknown C++ exception while loading SentencePiece model");
    }
    return nullptr;
}

extern "C" kspm_processor *kspm_load_serialized(const void *data, size_t size, char *err, size_t err_cap) {
    try {
        auto proc = std::make_unique<kspm_processor>();
        auto status = proc->sp.LoadFromSerializedProto(
            std::string(static_cast<const char *>(data), size));
        return finish_load(std::move(proc), status, err, err_cap);
    } catch (const std::exception &e) {
        write_error(err, err_cap, e.what());
    } catch (...) {
        write_error(err, err_cap, "unknown C++ exception while loading SentencePiece model");
    }
    return nullptr;
}

extern "C" void kspm_free(kspm_processor *p) { delete p; }

extern "C" int kspm_encode(const kspm_processor *p, const char *text, size_t len, int32_t *ids, size_t cap,
                           size_t *count, char *err, size_t err_cap) {
    try {
        std::vector<int> out;
        auto status = p->sp.Encode(std::string(text, len), &out);
        if (!status.ok()) {
            write_error(err, err_cap, status.ToString());
            return KSPM_ERROR;
        }
        *count = out.size();
        if (out.size() > cap) return KSPM_BUFFER_TOO_SMALL;
        for (size_t i = 0; i < out.size(); ++i) ids[i] = out[i];
        return KSPM_OK;
    } catch (const std::exception &e) {
        write_error(err, err_cap, e.what());
    } catch (...) {
        write_error(err, err_cap, "unknown C++ exception while encoding");
    }
    return KSPM_ERROR;
}

extern "C" int32_t kspm_piece_count(const kspm_processor *p) { return p->sp.GetPieceSize(); }

extern "C" int32_t kspm_id_to_piece(const kspm_processor *p, int32_t id, char *buf, size_t cap) {
    if (!valid_id(p, id)) return -1;
    const std::string &piece = p->sp.IdToPiece(id);
    size_t n = piece.size() < cap ? piece.size() : cap;
    std::memcpy(buf, piece.data(), n);
    return static_cast<int32_t>(piece.size());
}

extern "C" float kspm_score(const kspm_processor *p, int32_t id) {
    return valid_id(p, id) ? p->sp.GetScore(id) : 0.0f;
}

extern "C" int32_t kspm_piece_type(const kspm_processor *p, int32_t id) {
    if (!valid_id(p, id)) return 0;
    if (p->sp.IsUnknown(id)) return 2;
    if (p->sp.IsControl(id)) return 3;
    if (p->sp.IsUnused(id)) return 5;
    if (p->sp.IsByte(id)) return 6;
    return 1; // normal or user-defined: the public API does not tell them apart

}

extern "C" int32_t kspm_unk_id(const kspm_processor *p) { return p->sp.unk_id(); }
extern "C" int32_t kspm_bos_id(const kspm_processor *p) { return p->sp.bos_id(); }
extern "C" int32_t kspm_eos_id(const kspm_processor *p) { return p->sp.eos_id(); }
extern "C" int32_t kspm_pad_id(const kspm_processor *p) { return p->sp.pad_id(); }
