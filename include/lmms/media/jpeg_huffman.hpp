// lmms/media/jpeg_huffman.hpp: a faster Huffman decoder for baseline JPEGs, plugged into
// libjpeg-turbo in place of its own. Implementation detail of media/image.hpp: included from
// its LMMS_IMPLEMENTATION section (and by tests/unit/media/jpeg_huffman_test.cpp, which checks
// which files take it), after jpeglib.h, jpegint.h and jerror.h.
//
// Why: decoding the entropy-coded data is most of a JPEG's decode time (29 % of the whole CLIP
// preprocessing benchmark, perf), and libjpeg-turbo 2.1 looks up each code in an 8-bit table,
// then reads the coefficient's extra bits in a second step, refilling its bit buffer byte by
// byte. This decoder reads 8 bytes at a time when none is 0xFF, and one 11-bit lookup gives the
// bits a coefficient takes, its run of zeros and the size of its extra bits, so a coefficient
// costs a lookup, two shifts and a store. Measured on the benchmark's 18 JPEGs (whole decodes):
// 1.18-1.23x libjpeg-turbo's speed for the whole decode.
//
// What stays the same: libjpeg-turbo parses the markers, checks the tables, does the inverse
// DCT, upsampling and colour conversion. Only the entropy decoder module is swapped (libjpeg's
// design keeps its modules behind method pointers; jpegint.h, which libjpeg-turbo installs,
// describes them). The coefficients are libjpeg's, also for damaged data: where its reader meets
// a marker in the middle of the data it decodes zeros, and once an MCU needs bits past the
// marker the rest of the segment stays zero (grey) until a restart marker; a code that matches
// nothing gives symbol 0 after 17 bits. tests/unit/media/jpeg_huffman_test.cpp compares the
// pixels with libjpeg-turbo's own decoder on valid and damaged files. Used on x86-64 CPUs with
// BMI2 (every one since 2013); without BMI2's shifts it measured slower than libjpeg-turbo's.
#pragma once

#include <cstdint>
#include <cstring>

#include "lmms/core/cpu_features.hpp"

namespace lmms::media::detail {

namespace fast_huffman {

constexpr int lookahead = 11;  // bits per table lookup: 4 KB a table, all of them stay in L1

// A table entry (0: the code is longer than `lookahead`, or there is none):
//   bits 0-4   the bits the coefficient takes: its code and its extra bits
//   bits 8-11  the size of the extra bits (DC: the symbol)
//   bits 12-15 the run of zeros before the coefficient (AC)
//   bit 5      end of block: an AC symbol of size 0 other than ZRL (a run of 16 zeros)
// Everything a coefficient needs comes from one lookup, so decoding it takes no branch but the
// end-of-block test (the extra bits are read whether or not there are any), and the next lookup
// waits only for the load and one shift.
constexpr std::uint16_t end_of_block = 32;

struct table {
  std::int32_t maxcode[18];  // the largest code of each length (-1: none); [17] ends the search
  std::int32_t valoffset[17];
  std::uint8_t huffval[256];
  std::uint16_t entries[1 << lookahead];
  bool is_dc;
};

inline std::uint16_t entry(int length, int symbol, bool is_dc) {
  const int run = is_dc ? 0 : symbol >> 4, size = symbol & 15;  // (libjpeg allows DC symbols up to 15)
  const bool end = !is_dc && size == 0 && run != 15;
  return static_cast<std::uint16_t>((length + size) | size << 8 | run << 12 | (end ? end_of_block : 0));
}

struct decoder {
  jpeg_entropy_decoder pub;  // first: libjpeg sees this decoder as a jpeg_entropy_decoder
  const table* dc[D_MAX_BLOCKS_IN_MCU];
  const table* ac[D_MAX_BLOCKS_IN_MCU];
  bool dc_needed[D_MAX_BLOCKS_IN_MCU], ac_needed[D_MAX_BLOCKS_IN_MCU];
  table tables[2 * NUM_HUFF_TBLS];  // DC tables, then AC tables
  // the bit reader: `bits` valid bits at the top of `acc`; `zeros` of them (the lowest) are
  // padding past a marker
  std::uint64_t acc;
  int bits, zeros;
  const std::uint8_t* next;
  const std::uint8_t* end;
  const std::uint8_t* fast_stop;  // see refill
  int last_dc[MAX_COMPS_IN_SCAN];
  unsigned restarts_to_go;
};

// Canonical Huffman decoding tables for one JHUFF_TBL, as libjpeg derives them.
inline void build(const JHUFF_TBL& source, bool is_dc, table& t) {
  t.is_dc = is_dc;
  int count_total = 0;
  for (int l = 1; l <= 16; ++l) count_total += source.bits[l];
  if (count_total > 256) count_total = 256;  // (libjpeg has already rejected such a table)
  std::memcpy(t.huffval, source.huffval, sizeof t.huffval);
  int code = 0, p = 0;
  std::uint8_t code_length[256] = {};
  int codes[256] = {};
  for (int l = 1; l <= 16; ++l) {
    const int n = source.bits[l];
    if (n > 0 && p + n <= count_total) {
      t.valoffset[l] = p - code;
      for (int i = 0; i < n; ++i) {
        code_length[p + i] = static_cast<std::uint8_t>(l);
        codes[p + i] = code + i;
      }
      code += n;
      p += n;
      t.maxcode[l] = code - 1;
    } else {
      t.valoffset[l] = 0;
      t.maxcode[l] = -1;
    }
    code <<= 1;
  }
  t.maxcode[17] = 0xFFFFF;
  std::memset(t.entries, 0, sizeof t.entries);
  for (int i = 0; i < p; ++i) {
    const int l = code_length[i];
    if (l > lookahead) continue;
    const std::uint16_t e = entry(l, t.huffval[i], is_dc);
    const int first = codes[i] << (lookahead - l), span = 1 << (lookahead - l);
    for (int j = 0; j < span; ++j) t.entries[first + j] = e;
  }
}

// Pulls bytes into the reader until it holds more than 56 bits: 8 at once when none is 0xFF
// (while `next` is before `fast_stop`: 8 bytes before the end, or no more once a marker is
// met), else one at a time, undoing the FF 00 stuffing. At a marker (or the end of the data,
// where jpeg_mem_src would supply an EOI) it records the marker as libjpeg's reader does and pads
// with zero bits from then on.
[[gnu::always_inline]] inline void refill(j_decompress_ptr cinfo, std::uint64_t& acc, int& bits, int& zeros,
                                          const std::uint8_t*& next, const std::uint8_t* end,
                                          const std::uint8_t*& fast_stop) {
  if (next < fast_stop) {
    std::uint64_t word;
    std::memcpy(&word, next, 8);
    word = __builtin_bswap64(word);
    const std::uint64_t inverted = ~word;  // a 0xFF byte is a zero byte here
    if (((inverted - 0x0101010101010101ull) & ~inverted & 0x8080808080808080ull) == 0) {
      // Bits below the new count are the next bytes' own bits, so OR-ing them again later
      // (here or byte by byte) leaves them as they are.
      acc |= word >> bits;
      const int taken = (63 - bits) >> 3;
      next += taken;
      bits += taken * 8;
      return;
    }
  }
  if (cinfo->unread_marker != 0) {  // past a marker: zeros
    zeros += 64 - bits;
    bits = 64;
    return;
  }
  while (bits <= 56) {
    if (next >= end) {
      cinfo->unread_marker = JPEG_EOI;
      break;
    }
    const std::uint8_t c = *next;
    if (c != 0xFF) {
      acc |= static_cast<std::uint64_t>(c) << (56 - bits);
      ++next;
      bits += 8;
      continue;
    }
    const std::uint8_t* after = next + 1;
    while (after < end && *after == 0xFF) ++after;  // fill bytes before a marker
    if (after >= end) {
      next = end;
      cinfo->unread_marker = JPEG_EOI;
      break;
    }
    if (*after == 0) {  // FF 00: a data byte 0xFF
      acc |= static_cast<std::uint64_t>(0xFF) << (56 - bits);
      next = after + 1;
      bits += 8;
      continue;
    }
    cinfo->unread_marker = *after;
    next = after + 1;
    break;
  }
  if (cinfo->unread_marker != 0) {
    fast_stop = next;
    acc &= bits == 0 ? 0 : ~0ull << (64 - bits);
    zeros += 64 - bits;
    bits = 64;
  }
}

// The entry of a code longer than the lookahead (or of none at all), found as libjpeg's
// jpeg_huff_decode finds it: no code of 16 bits or fewer gives symbol 0 after 17 bits.
inline std::uint16_t decode_long(const table& t, std::uint64_t acc) {
  int l = lookahead + 1;
  std::int32_t code = static_cast<std::int32_t>(acc >> (64 - l));
  while (code > t.maxcode[l]) {
    ++l;
    code = static_cast<std::int32_t>(acc >> (64 - l));
  }
  if (l > 16) return entry(17, 0, t.is_dc);
  return entry(l, t.huffval[(code + t.valoffset[l]) & 0xFF], t.is_dc);
}

// Drops a coefficient of `total` bits, its code and then `size` extra bits, and returns its
// value (JPEG's EXTEND, F.2.2.1: a leading 0 bit makes it negative; size 0 is 0).
[[gnu::always_inline]] inline int take(std::uint64_t& acc, int& bits, std::uint32_t e) {
  const int total = static_cast<int>(e & 31), size = static_cast<int>((e >> 8) & 15);
  const std::uint32_t mask = (1u << size) - 1;
  const std::uint32_t raw = static_cast<std::uint32_t>(acc >> (64 - total)) & mask;
  acc <<= total;
  bits -= total;
  const std::uint32_t negative = ((raw >> ((size - 1) & 31)) & 1) ^ 1;  // (size 0: mask 0)
  return static_cast<int>(raw - (-negative & mask));
}

inline const std::uint8_t* fast_stop_for(const std::uint8_t* next, const std::uint8_t* end, j_decompress_ptr cinfo) {
  return cinfo->unread_marker == 0 && end - next >= 8 ? end - 7 : next;
}

[[gnu::always_inline]] inline boolean decode_mcu(j_decompress_ptr cinfo, JBLOCKROW* mcu) {
  auto* d = reinterpret_cast<decoder*>(cinfo->entropy);
  if (cinfo->restart_interval != 0 && d->restarts_to_go == 0) {
    // as libjpeg's process_restart: drop the buffered bits, let the marker reader find RSTn
    cinfo->marker->discarded_bytes += static_cast<unsigned>(d->bits > d->zeros ? (d->bits - d->zeros) / 8 : 0);
    d->acc = 0;
    d->bits = d->zeros = 0;
    cinfo->src->next_input_byte = d->next;
    cinfo->src->bytes_in_buffer = static_cast<std::size_t>(d->end - d->next);
    if (!(*cinfo->marker->read_restart_marker)(cinfo)) return FALSE;
    d->next = cinfo->src->next_input_byte;
    d->end = d->next + cinfo->src->bytes_in_buffer;
    d->fast_stop = fast_stop_for(d->next, d->end, cinfo);
    for (int ci = 0; ci < cinfo->comps_in_scan; ++ci) d->last_dc[ci] = 0;
    d->restarts_to_go = cinfo->restart_interval;
    if (cinfo->unread_marker == 0) d->pub.insufficient_data = FALSE;
  }
  if (!d->pub.insufficient_data) {
    std::uint64_t acc = d->acc;
    int bits = d->bits, zeros = d->zeros;
    const std::uint8_t* next = d->next;
    const std::uint8_t* const end = d->end;
    const std::uint8_t* fast_stop = d->fast_stop;
    JBLOCK discard;  // where the coefficients of a skipped row go
    for (int b = 0; b < cinfo->blocks_in_MCU; ++b) {
      JCOEF* block = (mcu != nullptr && d->ac_needed[b]) ? mcu[b][0] : discard;
      const table& dc = *d->dc[b];
      const table& ac = *d->ac[b];
      if (bits < 32) refill(cinfo, acc, bits, zeros, next, end, fast_stop);
      std::uint32_t e = dc.entries[acc >> (64 - lookahead)];
      if (e == 0) [[unlikely]]
        e = decode_long(dc, acc);
      const int diff = take(acc, bits, e);
      if (d->dc_needed[b]) {
        const int ci = cinfo->MCU_membership[b];
        // wraps as libjpeg's int does on damaged data (its sum is never checked either)
        d->last_dc[ci] = static_cast<int>(static_cast<unsigned>(d->last_dc[ci]) + static_cast<unsigned>(diff));
        if (mcu != nullptr) mcu[b][0][0] = static_cast<JCOEF>(d->last_dc[ci]);
      }
      for (int k = 1; k < DCTSIZE2; ++k) {
        if (bits < 32) refill(cinfo, acc, bits, zeros, next, end, fast_stop);
        e = ac.entries[acc >> (64 - lookahead)];
        if (e == 0) [[unlikely]]
          e = decode_long(ac, acc);
        const int value = take(acc, bits, e);
        if (e & end_of_block) break;
        // k is at most 78 here: jpeg_natural_order has 16 extra entries (63) for that. A run
        // of 16 zeros (ZRL) stores a 0 where the block is already 0.
        k += static_cast<int>(e >> 12);
        block[jpeg_natural_order[k]] = static_cast<JCOEF>(value);
      }
    }
    if (bits < zeros) {  // this MCU read past the marker: the rest of the segment stays grey
      d->pub.insufficient_data = TRUE;
      cinfo->err->msg_code = JWRN_HIT_MARKER;
      (*cinfo->err->emit_message)(reinterpret_cast<j_common_ptr>(cinfo), -1);
    }
    d->acc = acc;
    d->bits = bits;
    d->zeros = zeros;
    d->next = next;
    d->fast_stop = fast_stop;
    cinfo->src->next_input_byte = next;  // where libjpeg's marker reader goes on after the scan
    cinfo->src->bytes_in_buffer = static_cast<std::size_t>(end - next);
  }
  if (cinfo->restart_interval != 0) --d->restarts_to_go;
  return TRUE;
}

#ifdef LMMS_X86_SIMD
// decode_mcu compiled for BMI2 CPUs: its shifts by a register take one instruction each. With
// the baseline x86-64 shifts it measured slower than libjpeg-turbo's own decoder, so other CPUs
// keep that one.
__attribute__((target("bmi,bmi2"))) inline boolean decode_mcu_bmi2(j_decompress_ptr cinfo, JBLOCKROW* mcu) {
  return decode_mcu(cinfo, mcu);
}
#endif

}  // namespace fast_huffman

namespace fast_huffman {
// The decoder's start of a scan, as libjpeg's start_pass_huff_decoder: the tables of the scan's
// components, the bit reader at the scan's first byte, the DC predictions at 0. libjpeg calls a
// start pass once per scan; a single-scan file has one, run by use_fast_huffman below (a second
// SOS in such a file is an error in libjpeg before it gets here).
inline void start_pass(j_decompress_ptr cinfo) {
  auto* d = reinterpret_cast<decoder*>(cinfo->entropy);
  bool built[2 * NUM_HUFF_TBLS] = {};
  for (int b = 0; b < cinfo->blocks_in_MCU; ++b) {
    const jpeg_component_info* component = cinfo->cur_comp_info[cinfo->MCU_membership[b]];
    const int dc_slot = component->dc_tbl_no, ac_slot = component->ac_tbl_no;
    // (libjpeg's own start pass has checked the slots and that their tables exist)
    if (!built[dc_slot]) build(*cinfo->dc_huff_tbl_ptrs[dc_slot], true, d->tables[dc_slot]);
    if (!built[NUM_HUFF_TBLS + ac_slot])
      build(*cinfo->ac_huff_tbl_ptrs[ac_slot], false, d->tables[NUM_HUFF_TBLS + ac_slot]);
    built[dc_slot] = built[NUM_HUFF_TBLS + ac_slot] = true;
    d->dc[b] = &d->tables[dc_slot];
    d->ac[b] = &d->tables[NUM_HUFF_TBLS + ac_slot];
    // a component that is not output is decoded and dropped
    d->dc_needed[b] = component->component_needed;
    d->ac_needed[b] = component->component_needed && component->DCT_scaled_size > 1;
  }
  d->acc = 0;
  d->bits = d->zeros = 0;
  d->next = cinfo->src->next_input_byte;
  d->end = d->next + cinfo->src->bytes_in_buffer;
  d->fast_stop = fast_stop_for(d->next, d->end, cinfo);
  for (int& dc : d->last_dc) dc = 0;
  d->restarts_to_go = cinfo->restart_interval;
  d->pub.insufficient_data = FALSE;
}
}  // namespace fast_huffman

/// True when `cinfo` (after jpeg_start_decompress, reading from jpeg_mem_src) now decodes its
/// entropy-coded data with lmms's decoder: a single-scan, 8-bit, sequential Huffman JPEG on a
/// CPU with BMI2. Otherwise (progressive, arithmetic coding, several scans, 12-bit) nothing
/// changes.
inline bool use_fast_huffman(j_decompress_ptr cinfo) {
#ifndef LMMS_X86_SIMD
  (void)cinfo;
  return false;
#else
  using namespace fast_huffman;
  if (!cpu::has_bmi2()) return false;
  if (cinfo->progressive_mode || cinfo->arith_code || cinfo->data_precision != 8 || cinfo->inputctl == nullptr ||
      cinfo->inputctl->has_multiple_scans || cinfo->Ss != 0 || cinfo->Se != DCTSIZE2 - 1 || cinfo->Ah != 0 ||
      cinfo->Al != 0 || cinfo->blocks_in_MCU > D_MAX_BLOCKS_IN_MCU || cinfo->comps_in_scan > MAX_COMPS_IN_SCAN ||
      cinfo->src == nullptr || cinfo->unread_marker != 0 || cinfo->entropy->insufficient_data)
    return false;
  for (int b = 0; b < cinfo->blocks_in_MCU; ++b) {
    const jpeg_component_info* component = cinfo->cur_comp_info[cinfo->MCU_membership[b]];
    const int dc_slot = component->dc_tbl_no, ac_slot = component->ac_tbl_no;
    if (dc_slot < 0 || dc_slot >= NUM_HUFF_TBLS || ac_slot < 0 || ac_slot >= NUM_HUFF_TBLS ||
        cinfo->dc_huff_tbl_ptrs[dc_slot] == nullptr || cinfo->ac_huff_tbl_ptrs[ac_slot] == nullptr)
      return false;  // (libjpeg has already stopped with an error for these)
  }
  auto* d = static_cast<decoder*>((*cinfo->mem->alloc_small)(reinterpret_cast<j_common_ptr>(cinfo), JPOOL_IMAGE,
                                                             sizeof(decoder)));
  std::memset(d, 0, sizeof(decoder));
  d->pub.start_pass = start_pass;
  d->pub.decode_mcu = decode_mcu_bmi2;
  cinfo->entropy = &d->pub;  // libjpeg's own decoder (in its memory pool) is no longer used
  start_pass(cinfo);
  return true;
#endif
}

}  // namespace lmms::media::detail
