// bench/tokenizer_throughput.cpp: single-thread encode throughput of lmms tokenizers on a
// corpus (a JSON list of strings). Run through bench/tokenizer_bench.py, which also times HF
// `tokenizers` on the same strings and prints both.
//   bench_tokenizer TOKENIZER_JSON CORPUS_JSON [REPEATS]   -> one JSON line
#include <chrono>
#include <cstdio>
#include <fstream>

#include <nlohmann/json.hpp>

#include <lmms/text/tokenizer.hpp>

int main(int argc, char** argv) try {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s TOKENIZER_JSON CORPUS_JSON [REPEATS]\n", argv[0]);
    return 2;
  }
  auto tok = lmms::text::tokenizer::load(argv[1]);
  std::ifstream in(argv[2]);
  auto corpus = nlohmann::json::parse(in).get<std::vector<std::string>>();
  int repeats = argc > 3 ? std::atoi(argv[3]) : 3;
  std::size_t bytes = 0;
  for (const auto& s : corpus) bytes += s.size();
  double best = 1e30;
  std::size_t tokens = 0;
  for (int r = 0; r < repeats; ++r) {
    // A fresh tokenizer each round, so the word cache starts cold as in a new process.
    auto fresh = lmms::text::tokenizer::load(argv[1]);
    auto t0 = std::chrono::steady_clock::now();
    std::size_t n = 0;
    for (const auto& s : corpus) n += fresh.encode(s, true).ids.size();
    double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    best = std::min(best, dt);
    tokens = n;
  }
  std::printf("{\"impl\": \"lmms\", \"strings\": %zu, \"bytes\": %zu, \"tokens\": %zu, \"seconds\": %.4f}\n",
              corpus.size(), bytes, tokens, best);
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "%s\n", e.what());
  return 1;
}
