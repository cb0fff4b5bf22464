// riacho help [TOPIC|COMMAND...]; riacho completion bash|zsh
#include "cli/commands.h"

#include <fmt/format.h>

#include <iostream>
#include <map>

namespace riacho::cli {

namespace {

struct help_page {
    const char* name;
    const char* summary;
    const char* text;
};

// Man-page-like topics; commands have their own --help (also reachable as `riacho help CMD`).
constexpr help_page pages[] = {
    {"getting-started", "From an empty broker to records flowing",
     "GETTING STARTED\n"
     "  riacho serve &                                # a broker on localhost:9092\n"
     "  riacho topic create orders --partitions 3\n"
     "  riacho produce orders --key-separator :       # type key:value lines, Ctrl-D to end\n"
     "  riacho consume orders --from-beginning        # Ctrl-C to stop\n"
     "  riacho consume orders --group billing         # share partitions, commit offsets\n"
     "  riacho group describe billing                 # committed offsets and lag\n"
     "\n"
     "Every command works against any Kafka-compatible cluster: pass -b host:port or set\n"
     "RIACHO_BROKERS. See `riacho help environment` and `riacho <command> --help`.\n"},
    {"offsets", "Where consume starts and how group offsets move",
     "OFFSETS\n"
     "  Each partition is a log; an offset numbers a record within it. The log start offset is\n"
     "  the first record still kept, the high watermark the offset the next record gets.\n"
     "\n"
     "  riacho consume T                     start at the end (new records only)\n"
     "  riacho consume T --from-beginning    start at the log start offset\n"
     "  riacho consume T --offset 42         start at offset 42 in each partition\n"
     "  riacho consume T --offset -10        the last 10 records of each partition\n"
     "  riacho consume T --timestamp 2024-05-01T00:00:00\n"
     "                                       the first record at or after that time (UTC)\n"
     "  riacho consume T -e                  exit once every partition is read to its end\n"
     "\n"
     "  A group resumes from its committed offsets. Move them while the group has no members:\n"
     "  riacho group reset-offsets G --topic T --to-earliest|--to-latest|--to-offset N|\n"
     "                             --to-datetime TIME|--shift-by N [--dry-run]\n"},
    {"groups", "Consumer groups, members, commits and lag",
     "CONSUMER GROUPS\n"
     "  Consumers with the same --group share a topic's partitions; each partition goes to one\n"
     "  member. `riacho consume T --group G` joins, stores the offset of each printed record and\n"
     "  commits on exit (Ctrl-C included).\n"
     "\n"
     "  riacho group list                  groups and their state\n"
     "  riacho group describe G            members, committed offset, log end offset and lag\n"
     "  riacho group delete G              forget a group with no members\n"
     "  riacho group reset-offsets G ...   see `riacho help offsets`\n"
     "\n"
     "  Lag = log end offset - committed offset, per partition.\n"},
    {"configs", "Topic and broker configs and how to change them",
     "CONFIGS\n"
     "  Configs use Kafka's names. Common topic configs:\n"
     "    retention.ms, retention.bytes      how long / how much to keep (-1: forever)\n"
     "    cleanup.policy                     delete or compact\n"
     "    segment.bytes, segment.ms          when to roll a new segment file\n"
     "    max.message.bytes                  the largest record batch accepted\n"
     "    min.insync.replicas                replicas that must have a record for acks=all\n"
     "\n"
     "  riacho topic create T -c retention.ms=86400000\n"
     "  riacho config get --topic T [KEY...] [--all]\n"
     "  riacho config set --topic T retention.ms=3600000 [--delete KEY] [--validate-only]\n"
     "  riacho config get --broker 1\n"
     "\n"
     "  `config set` keeps the other overrides of the topic or broker as they are.\n"},
    {"output", "Tables for people, JSON for scripts",
     "OUTPUT\n"
     "  --output table (default) prints aligned columns for people.\n"
     "  --output json prints one JSON document (list commands: an array of objects; consume:\n"
     "  one object per line with topic, partition, offset, timestamp, key, value, headers).\n"
     "  Messages about what happened go to stderr, data to stdout, so pipes stay clean.\n"
     "\n"
     "  consume --format templates: {topic} {partition} {offset} {timestamp} (ms) {time} (UTC)\n"
     "  {key} {value} {headers} (k=v,k=v), with \\t and \\n escapes. Default: {value}.\n"},
    {"environment", "Environment variables and connection settings",
     "ENVIRONMENT\n"
     "  RIACHO_BROKERS    default for -b/--bootstrap-server (else localhost:9092),\n"
     "                    e.g. export RIACHO_BROKERS=kafka1:9092,kafka2:9092\n"
     "\n"
     "  -X key=value passes a librdkafka setting through, e.g. TLS or SASL:\n"
     "    -X security.protocol=SASL_SSL -X sasl.mechanisms=PLAIN -X sasl.username=u ...\n"
     "  --timeout-ms bounds every request (default 10000); -v shows librdkafka's log.\n"},
    {"exit-codes", "What the exit status means",
     "EXIT CODES\n"
     "  0  success\n"
     "  1  the operation failed (the broker refused it, a record was not delivered, ...)\n"
     "  2  bad flag, argument or input (nothing was sent)\n"
     "  3  no broker answered at the bootstrap address\n"
     "  4  the broker does not implement the API this command needs\n"
     "  Errors are one line on stderr: \"riacho: <what went wrong>; <what to do>\".\n"},
};

struct help_opts {
    std::vector<std::string> words;
};

int run_help(CLI::App& root, const help_opts& o) {
    if (o.words.empty()) {
        fmt::print("{}\nHelp topics (riacho help TOPIC):\n", root.help());
        for (const auto& p : pages) {
            fmt::print("  {:<16} {}\n", p.name, p.summary);
        }
        return exit_ok;
    }
    for (const auto& p : pages) {
        if (o.words.size() == 1 && o.words[0] == p.name) {
            fmt::print("{}", p.text);
            return exit_ok;
        }
    }
    CLI::App* cur = &root;
    for (const auto& w : o.words) {
        CLI::App* next = nullptr;
        try {
            next = cur->get_subcommand(w);
        } catch (const CLI::OptionNotFound&) {
        }
        if (next == nullptr) {
            std::string topics;
            for (const auto& p : pages) {
                topics += topics.empty() ? p.name : std::string(", ") + p.name;
            }
            throw cli_error(exit_usage, fmt::format("no help for '{}'; topics are {}, or name a "
                                                    "command (riacho help topic create)",
                                                    fmt::join(o.words, " "), topics));
        }
        cur = next;
    }
    fmt::print("{}", cur->help());
    return exit_ok;
}

// Walks the command tree: "riacho topic create" -> the words that may follow it.
void collect_words(const CLI::App* app,
                   const std::string& path,
                   std::map<std::string, std::string>& words,
                   std::map<std::string, bool>& is_cmd) {
    std::string list;
    auto subs = const_cast<CLI::App*>(app)->get_subcommands([](CLI::App*) { return true; });
    for (const auto* sub : subs) {
        list += sub->get_name() + " ";
        is_cmd[path + " " + sub->get_name()] = true;
        collect_words(sub, path + " " + sub->get_name(), words, is_cmd);
    }
    for (const auto* opt : app->get_options([](const CLI::Option*) { return true; })) {
        for (const auto& l : opt->get_lnames()) {
            list += "--" + l + " ";
        }
        for (const auto& s : opt->get_snames()) {
            list += "-" + s + " ";
        }
    }
    if (!list.empty()) {
        list.pop_back();
    }
    words[path] = list;
}

std::string bash_script(const CLI::App& root) {
    std::map<std::string, std::string> words;
    std::map<std::string, bool> is_cmd;
    collect_words(&root, "riacho", words, is_cmd);
    std::string out =
        "# riacho bash completion: source <(riacho completion bash)\n"
        "declare -gA _riacho_words=(\n";
    for (const auto& [path, list] : words) {
        out += fmt::format("  [{}]={}\n", json_quote(path), json_quote(list));
    }
    out +=
        ")\n"
        "_riacho() {\n"
        "    local cur=\"${COMP_WORDS[COMP_CWORD]}\" path=riacho i w\n"
        "    for ((i = 1; i < COMP_CWORD; i++)); do\n"
        "        w=\"${COMP_WORDS[i]}\"\n"
        "        [[ -n \"${_riacho_words[\"$path $w\"]+x}\" ]] && path=\"$path $w\"\n"
        "    done\n"
        "    COMPREPLY=($(compgen -W \"${_riacho_words[$path]}\" -- \"$cur\"))\n"
        "}\n"
        "complete -o default -F _riacho riacho\n";
    return out;
}

struct completion_opts {
    std::string shell;
};

int run_completion(CLI::App& root, const completion_opts& o) {
    if (o.shell == "zsh") {
        fmt::print(
            "#compdef riacho\n# riacho zsh completion: source <(riacho completion zsh)\n"
            "autoload -U +X bashcompinit && bashcompinit\n{}",
            bash_script(root));
    } else {
        fmt::print("{}", bash_script(root));
    }
    return exit_ok;
}

}  // namespace

void add_help_commands(CLI::App& app, commands& cmds) {
    auto* help = app.add_subcommand("help", "Guides (riacho help TOPIC) and command help");
    auto ho = std::make_shared<help_opts>();  // shared: bound into CLI11 options, see add_leaf
    help->add_option("topic", ho->words, "A help topic or a command path");
    help->footer("Examples:\n  riacho help\n  riacho help offsets\n  riacho help topic create\n");
    help->callback(
        [&cmds, &app, ho] { cmds.selected = [&app, ho] { return run_help(app, *ho); }; });

    auto* completion = app.add_subcommand("completion", "Print a shell completion script");
    auto co = std::make_shared<completion_opts>();
    completion->add_option("shell", co->shell, "bash or zsh")
        ->required()
        ->check(CLI::IsMember({"bash", "zsh"}));
    completion->footer(
        "Examples:\n  source <(riacho completion bash)     # in ~/.bashrc\n"
        "  source <(riacho completion zsh)      # in ~/.zshrc\n");
    completion->callback(
        [&cmds, &app, co] { cmds.selected = [&app, co] { return run_completion(app, *co); }; });
}

}  // namespace riacho::cli
