// tools/lmms.cpp: the `lmms` command.
//
//   lmms supported-models          the model table and what this build implements
//   lmms inspect PATH              tensors of a .safetensors file or checkpoint directory
//   lmms config PATH [KEY.KEY...]  values of a config.json (nested keys with dots)
//   lmms tokenize --tokenizer DIR  stdin lines (or JSON strings) -> JSON lines of ids
//   lmms merge-lora --adapter DIR --output DIR [--base DIR]   fold a LoRA adapter into its base
//   lmms generate --model DIR ...  answers of a model (+ adapter) to a prompt or a dataset
//   lmms score --model DIR ...     loss of each sample of a dataset, and the mean
//   lmms check-data --data FILE    every problem of a dataset, token-length statistics for a model
//   lmms version                   lmms and libtorch versions
#include <cstdio>
#include <iostream>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "lmms/core/error.hpp"
#include "lmms/io/hf_config.hpp"
#include "lmms/io/safetensors.hpp"
#include "lmms/models/supported_models.hpp"
#include "lmms/text/chat.hpp"
#include "lmms/train/merge.hpp"
#include "lmms/text/tokenizer.hpp"
#include "lmms/version.hpp"

int generate_command(const std::vector<std::string>& args);  // tools/model_commands.cpp
int score_command(const std::vector<std::string>& args);     // tools/model_commands.cpp
int check_data_command(const std::vector<std::string>& args);  // tools/check_data.cpp

namespace {

constexpr const char* usage =
    "usage: lmms <command> [args]\n"
    "\n"
    "commands:\n"
    "  supported-models          list model ids, their Hugging Face repos and status\n"
    "  inspect PATH              list the tensors of a .safetensors file or model directory\n"
    "  config PATH [KEY ...]     print config.json, or the values at KEY (text_config.hidden_size)\n"
    "  tokenize --tokenizer DIR [--no-special] [--offsets] [--decode [--skip-special]]\n"
    "                            encode each stdin line (a JSON string or plain text) and print\n"
    "                            its ids as a JSON list; --decode reads JSON id lists instead\n"
    "  tokenize --tokenizer DIR --chat FORMAT [--no-mask]\n"
    "                            render each stdin line, a LLaVA-style sample {\"system_prompt\",\n"
    "                            \"conversations\": [{\"from\": \"human\", \"value\"}, ...]}, and print\n"
    "                            input_ids and labels (FORMAT: llava, llava-interleave,\n"
    "                            llava-onevision, qwen2-vl, qwen-vl)\n"
    "  merge-lora --adapter DIR --output DIR [--base DIR]\n"
    "                            fold a PEFT LoRA adapter (and its modules_to_save) into the base\n"
    "                            model; writes a standalone HF model with tokenizer and processor files\n"
    "  generate --model DIR [--adapter DIR] [--image F ...] [--system TEXT] --prompt TEXT\n"
    "  generate --model DIR [--adapter DIR] --data FILE [--image-folder DIR]\n"
    "                            answer a prompt (or each sample's first user turn, printed as JSON\n"
    "                            lines with the reference answer) with a KV cache; options:\n"
    "                            --max-new-tokens N (64) --temperature T (0 = greedy) --top-k K\n"
    "                            --top-p P --seed N --stop TEXT --chat FORMAT --batch-size N\n"
    "  score --model DIR [--adapter DIR] --data FILE [--image-folder DIR] [--chat FORMAT]\n"
    "                            loss of each sample (mean cross-entropy over its label tokens, as\n"
    "                            the trainer computes it) as JSON lines, then the mean over the file\n"
    "  check-data --data FILE [--image-folder DIR] [--video-folder DIR]\n"
    "             [--max-image-pixels N] [--model DIR [--max-length N] [--num-frames N]]\n"
    "                            scan a dataset as a run would: malformed samples, undecodable\n"
    "                            images and videos (each named by file and sample), and with\n"
    "                            --model the token lengths in its format (min, mean, median, p95,\n"
    "                            max) and the samples max_length would truncate or drop; exit 1\n"
    "                            when anything is wrong\n"
    "  version                   print the lmms and libtorch versions\n";

int supported_models_command() {
  std::printf("%-32s %-44s %-18s %s\n", "model id", "Hugging Face repo", "family", "status");
  for (const auto& m : lmms::supported_models())
    std::printf("%-32.*s %-44.*s %-18.*s %s\n", int(m.id.size()), m.id.data(), int(m.hf_path.size()),
                m.hf_path.data(), int(m.family.size()), m.family.data(),
                m.implemented ? "implemented" : "planned");
  return 0;
}

int inspect_command(const std::string& path) {
  auto ck = lmms::io::safetensors_checkpoint::open(path);
  std::uint64_t total_bytes = 0;
  std::size_t count = 0;
  for (const auto& file : ck.files()) {
    std::printf("# %s\n", file.source().c_str());
    for (const auto& [k, v] : file.metadata()) std::printf("#   metadata %s = %s\n", k.c_str(), v.c_str());
    for (const auto& t : file.tensors()) {
      std::string shape = "[";
      for (std::size_t i = 0; i < t.shape.size(); ++i) shape += (i ? ", " : "") + std::to_string(t.shape[i]);
      shape += "]";
      auto dt = lmms::io::dtype_name(t.dtype);
      std::printf("%-60s %-5.*s %s\n", t.name.c_str(), int(dt.size()), dt.data(), shape.c_str());
      total_bytes += t.bytes.size();
      ++count;
    }
  }
  std::printf("%zu tensors, %llu bytes in %zu file(s)\n", count, static_cast<unsigned long long>(total_bytes),
              ck.files().size());
  return 0;
}

int config_command(const std::vector<std::string>& args) {
  auto cfg = lmms::io::hf_config::load(args.at(0));
  if (args.size() == 1) {
    std::cout << cfg.dump(2) << "\n";
    return 0;
  }
  for (std::size_t i = 1; i < args.size(); ++i) {
    auto section = cfg;
    std::string_view key = args[i];
    for (auto dot = key.find('.'); dot != std::string_view::npos; dot = key.find('.')) {
      section = section.section(key.substr(0, dot));
      key.remove_prefix(dot + 1);
    }
    std::cout << args[i] << " = " << section.value_text(key);
    std::cout << "\n";
  }
  return 0;
}

int tokenize_command(const std::vector<std::string>& args) {
  std::string dir;
  bool special = true, offsets = false, decode = false, skip_special = false, mask = true;
  std::string chat;
  for (std::size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--tokenizer" && i + 1 < args.size()) dir = args[++i];
    else if (args[i] == "--no-special") special = false;
    else if (args[i] == "--offsets") offsets = true;
    else if (args[i] == "--decode") decode = true;
    else if (args[i] == "--skip-special") skip_special = true;
    else if (args[i] == "--chat" && i + 1 < args.size()) chat = args[++i];
    else if (args[i] == "--no-mask") mask = false;
    else lmms::fail("tokenize: unknown argument ", lmms::quote(args[i]), " (see lmms --help)");
  }
  if (dir.empty()) lmms::fail("tokenize needs --tokenizer DIR (a model directory or a tokenizer.json)");
  auto tok = lmms::text::tokenizer::load(dir);
  std::optional<lmms::text::chat_renderer> renderer;
  if (!chat.empty()) {
    auto format = lmms::text::parse_chat_format(chat);
    if (!format) lmms::fail("unknown chat format ", lmms::quote(chat), " (llava, llava-interleave, llava-onevision, qwen2-vl, qwen-vl)");
    lmms::text::chat_options options;
    options.mask_question_tokens = mask;
    renderer.emplace(tok, *format, options);
  }
  std::string line;
  std::size_t line_number = 0;
  while (std::getline(std::cin, line)) {
    ++line_number;
    try {
      if (renderer) {
        auto j = nlohmann::json::parse(line);
        lmms::text::chat_sample sample;
        if (j.contains("system_prompt") && j["system_prompt"].is_string()) sample.system_prompt = j["system_prompt"];
        for (const auto& turn : j.at("conversations")) sample.turns.push_back(turn.at("value").get<std::string>());
        if (j.contains("image")) {
          if (j["image"].is_string()) sample.image_paths.push_back(j["image"]);
          else sample.image_paths = j["image"].get<std::vector<std::string>>();
        }
        auto r = renderer->render(sample);
        std::cout << nlohmann::json{{"input_ids", r.input_ids}, {"labels", r.labels}}.dump() << "\n";
        continue;
      }
      if (decode) {
        auto ids = nlohmann::json::parse(line).get<std::vector<lmms::text::token_id>>();
        std::cout << nlohmann::json(tok.decode(ids, skip_special)).dump() << "\n";
        continue;
      }
      std::string text = !line.empty() && line[0] == '"' ? nlohmann::json::parse(line).get<std::string>() : line;
      auto e = tok.encode(text, special);
      nlohmann::json out = e.ids;
      if (offsets) out = {{"ids", e.ids}, {"offsets", lmms::text::char_offsets(text, e.offsets)}};
      std::cout << out.dump() << "\n";
    } catch (const nlohmann::json::exception& e) {
      lmms::fail("stdin line ", line_number, " is not valid JSON (", e.what(), ")");
    } catch (const lmms::error& e) {
      lmms::fail("stdin line ", line_number, ": ", std::string(e.what()).substr(6));
    }
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty() || args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
    std::fputs(usage, args.empty() ? stderr : stdout);
    return args.empty() ? 2 : 0;
  }
  const std::string command = args[0];
  args.erase(args.begin());
  try {
    if (command == "supported-models") return supported_models_command();
    if (command == "version") {
      std::printf("lmms %s (libtorch %s)\n", lmms::version, lmms::torch_version().c_str());
      return 0;
    }
    if (command == "inspect") {
      if (args.size() != 1) lmms::fail("inspect takes one path: lmms inspect model_dir_or_file.safetensors");
      return inspect_command(args[0]);
    }
    if (command == "tokenize") return tokenize_command(args);
    if (command == "generate") return generate_command(args);
    if (command == "score") return score_command(args);
    if (command == "check-data") return check_data_command(args);
    if (command == "merge-lora") {
      std::string adapter, output, base;
      for (std::size_t i = 0; i + 1 < args.size(); i += 2) {
        if (args[i] == "--adapter") adapter = args[i + 1];
        else if (args[i] == "--output") output = args[i + 1];
        else if (args[i] == "--base") base = args[i + 1];
        else lmms::fail("merge-lora: unknown argument ", lmms::quote(args[i]));
      }
      if (adapter.empty() || output.empty() || args.size() % 2 != 0)
        lmms::fail("merge-lora needs --adapter DIR and --output DIR (and optionally --base DIR)");
      auto r = lmms::training::merge_lora(adapter, output, base.empty() ? std::nullopt : std::optional<std::filesystem::path>(base));
      std::printf("merged %zu LoRA pairs, replaced %zu tensors; wrote %zu tensors to %s\n", r.merged, r.replaced, r.tensors,
                  output.c_str());
      return 0;
    }
    if (command == "config") {
      if (args.empty()) lmms::fail("config takes a path: lmms config model_dir [text_config.hidden_size ...]");
      return config_command(args);
    }
    std::fprintf(stderr, "lmms: unknown command '%s'\n\n%s", command.c_str(), usage);
    return 2;
  } catch (const lmms::error& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 1;
  }
}
