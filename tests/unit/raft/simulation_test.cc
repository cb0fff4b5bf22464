// Deterministic simulation of whole quorums: 3 or 5 voters (and in half the seeds one or two
// observers, which fetch without voting: broker-only nodes) in one process on a seeded
// scheduler, a simulated network (messages dropped, duplicated, delayed and so reordered;
// partitions into two sides that heal, half of them cutting the leader off with a minority)
// and simulated disks (memory_log: a crash loses everything not flushed; a restart builds a
// new replica on what was flushed and the stored quorum-state). Crashes strike one replica,
// the leader, or every replica at once (power loss), between steps or between two messages;
// event loops tick irregularly, so a leader's appends may wait for its next flush. Clients
// append to whoever leads; replicas take snapshots at their high watermark. Each seed picks
// its size, fault rates and fetch size (1, 2 or 8 entries: small fetches leave followers part
// way through a tail, which is what tempts a leader to commit an older epoch's entries by
// counting). After every step the checker asserts:
// - at most one leader per epoch, ever;
// - a new leader's log holds every committed entry (Raft's leader completeness);
// - every replica's high watermark only grows while the replica lives;
// - every entry below any replica's high watermark equals the one committed at that offset
//   (the committed prefix is one history, shared by every log), and is what the client
//   appended there in that epoch; no replica truncates below its high watermark;
// - a snapshot a follower installs holds exactly the committed prefix it covers.
// After the faulty phase the network heals and every replica restarts; within a bounded time
// a leader must exist and commit a new append on every replica.
// A failing seed prints RIACHO_RAFT_SEED=<seed>, also when an INVARIANT or a sanitizer stops
// the process; run with that variable set to replay only it (RIACHO_RAFT_DEBUG=1 logs the
// transitions). RIACHO_RAFT_SEEDS=<n> changes how many seeds run (default 2000),
// RIACHO_RAFT_FIRST_SEED=<n> where they start (default 1).
#include "base/log.h"
#include "memory_log.h"
#include "raft/replica.h"

#include <gtest/gtest.h>

#include <csignal>
#include <cstdlib>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/common_interface_defs.h>
#endif

namespace riacho::raft {
namespace {

using namespace std::chrono_literals;
using test::memory_log;
using test::memory_quorum_store;

// The seed being run, printed if an INVARIANT (abort) or a sanitizer ends the process.
volatile uint64_t g_current_seed = 0;

void print_seed_and_die() {
    char line[64];
    int len = std::snprintf(line, sizeof line, "\nRIACHO_RAFT_SEED=%llu\n",
                            static_cast<unsigned long long>(g_current_seed));
    if (len > 0) {
        (void)!write(2, line, static_cast<size_t>(len));
    }
}

void on_abort(int) {
    print_seed_and_die();
    std::signal(SIGABRT, SIG_DFL);
    std::abort();
}

void install_seed_printers() {
    std::signal(SIGABRT, on_abort);
#if defined(__SANITIZE_ADDRESS__)
    __sanitizer_set_death_callback(print_seed_and_die);
#endif
}

std::string serialize(const log_entry& e) {
    return e.kind == entry_kind::leader_change ? fmt::format("#{}\n", e.epoch.value())
                                               : e.data + "\n";
}

// What the seeds exercised, summed over the run, so a change that makes the simulation
// toothless (no elections, no truncations) shows up in the test output.
struct coverage {
    uint64_t epochs = 0;
    uint64_t crashes = 0;
    uint64_t partitions = 0;
    uint64_t resignations = 0;
    uint64_t truncations = 0;
    uint64_t snapshots_taken = 0;
    uint64_t snapshots_installed = 0;
    uint64_t committed = 0;
};
coverage g_coverage;

struct fault_rates {
    double drop = 0;
    double duplicate = 0;
    int delay_max_ms = 1;
    double crash = 0;       // per step
    double power_loss = 0;  // per step: every replica crashes at once
    double tick = 1;        // chance that a replica's event loop ticks in a step
    double partition = 0;   // per step
    double append = 0;      // per step
    double snapshot = 0;    // per step
};

class simulation {
public:
    explicit simulation(uint64_t seed) : _seed(seed), _rng(seed) {
        _voters = seed % 3 == 0 ? 5 : 3;
        // Observers (broker-only nodes) fetch without voting; some seeds have one or two.
        _observers = static_cast<int>(seed % 4 == 1 ? 1 : seed % 4 == 2 ? 2 : 0);
        // Fault rates vary by seed, from a calm network to a very lossy one.
        static constexpr double drops[] = {0, 0.02, 0.1, 0.3};
        _rates.drop = drops[pick(4)];
        _rates.duplicate = pick(2) ? 0.05 : 0;
        _rates.delay_max_ms = pick(2) ? 5 : 40;
        _rates.crash = pick(2) ? 0.005 : 0.02;
        static constexpr double partitions[] = {0.003, 0.012, 0.03};
        _rates.partition = partitions[pick(3)];
        static constexpr double power_losses[] = {0, 0.002, 0.01};
        _rates.power_loss = power_losses[pick(3)];
        static constexpr double ticks[] = {0.9, 0.6, 0.3};
        _rates.tick = ticks[pick(3)];
        _rates.append = 0.3;
        // Small fetches leave followers part way through a leader's tail more often.
        static constexpr size_t fetch_sizes[] = {1, 2, 8};
        _fetch_max_entries = fetch_sizes[pick(3)];
        _rates.snapshot = pick(3) == 0 ? 0 : 0.01;
        for (int i = 0; i < node_count(); ++i) {
            _nodes.push_back(std::make_unique<node>());
        }
        for (int i = 0; i < node_count(); ++i) {
            start(i);
        }
    }

    // The faulty phase, then healing; returns false (with a gtest failure) on the first
    // violated property.
    ~simulation() {
        g_coverage.epochs += _epoch_leaders.size();
        g_coverage.committed += _committed.size();
        for (auto& n : _nodes) {
            g_coverage.truncations += static_cast<uint64_t>(n->log.truncations);
        }
    }

    bool run(int fault_steps, time_ms heal_budget) {
        for (int step = 0; step < fault_steps; ++step) {
            _step = step;
            if (!one_step(true)) {
                return false;
            }
        }
        heal();
        auto deadline = _now + heal_budget;
        // A probe appended by a leader that then loses its epoch is never committed: append
        // a new one whenever the leader's epoch is not the probe's.
        struct probe_append {
            kafka_offset offset;
            leader_epoch epoch;
            std::string payload;
        };
        std::optional<probe_append> probe;
        while (_now < deadline) {
            ++_step;
            if (!one_step(false)) {
                return false;
            }
            auto l = current_leader();
            if (l && (!probe || probe->epoch != _nodes[static_cast<size_t>(*l)]->r->epoch())) {
                auto payload = fmt::format("probe-{}-{}", _seed, _step);
                if (auto at = append_to(*l, {payload})) {
                    probe = probe_append{*at, _nodes[static_cast<size_t>(*l)]->r->epoch(), payload};
                }
            }
            if (!probe) {
                continue;
            }
            bool everywhere = true;
            for (auto& n : _nodes) {
                everywhere = everywhere && n->r->high_watermark() > probe->offset;
            }
            if (everywhere) {
                auto o = static_cast<size_t>(probe->offset.value());
                if (o < _committed.size() && _committed[o].data == probe->payload) {
                    return true;
                }
                probe.reset();
            }
        }
        return fail(fmt::format("no leader committed a new append within {} ms of healing{}",
                                heal_budget.count(), probe ? " (one was appended)" : ""));
    }

private:
    struct node {
        memory_log log;
        memory_quorum_store store;
        std::unique_ptr<replica> r;
        time_ms restart_at{0};
        int incarnation = 0;
        kafka_offset last_high_watermark{0};
        kafka_offset verified_end{0};  // [log start, this) checked against the committed prefix
        leader_epoch checked_leader_epoch = no_epoch;
        int side = 0;  // partition side
    };
    size_t pick(size_t n) { return static_cast<size_t>(_rng() % n); }
    bool chance(double p) { return std::uniform_real_distribution<double>(0, 1)(_rng) < p; }

    void start(int i) {
        auto& n = *_nodes[static_cast<size_t>(i)];
        replica_config c;
        c.id = node_id(i + 1);
        for (int v = 1; v <= _voters; ++v) {
            c.voters.push_back(node_id(v));
        }
        c.fetch_timeout = 200ms;
        c.election_timeout = 100ms;
        c.request_timeout = 50ms;
        c.fetch_idle_backoff = 10ms;
        c.fetch_max_entries = _fetch_max_entries;
        ++n.incarnation;
        n.r = std::make_unique<replica>(c, n.log, n.store, _seed * 1000003 + n.incarnation * 31 + i,
                                        _now);
        n.last_high_watermark = n.r->high_watermark();
        n.verified_end = n.log.log_start_offset();
        (void)n.log.take_lowest_truncation();
        collect(i);
    }

    void crash(int i) {
        ++g_coverage.crashes;
        auto& n = *_nodes[static_cast<size_t>(i)];
        n.r.reset();
        n.log.crash();
        n.restart_at = _now + time_ms(20 + pick(400));
    }

    void crash_all() {
        for (int i = 0; i < node_count(); ++i) {
            if (_nodes[static_cast<size_t>(i)]->r) {
                crash(i);
            }
        }
    }

    void heal() {
        for (auto& n : _nodes) {
            n->side = 0;
        }
        _heal_at.reset();
        _rates = fault_rates{};
        _rates.delay_max_ms = 5;
        for (int i = 0; i < node_count(); ++i) {
            if (!_nodes[static_cast<size_t>(i)]->r) {
                start(i);
            }
        }
    }

    bool one_step(bool faults) {
        _now += time_ms(1 + pick(10));
        if (faults) {
            inject_faults();
        }
        deliver_due();
        // A busy event loop does not tick every replica every step: some work (appends,
        // answers) then happens between a leader's periodic flushes.
        for (int i = 0; i < node_count(); ++i) {
            if (_nodes[static_cast<size_t>(i)]->r && (!faults || chance(_rates.tick))) {
                _nodes[static_cast<size_t>(i)]->r->tick(_now);
                collect(i);
            }
        }
        return check();
    }

    void inject_faults() {
        for (int i = 0; i < node_count(); ++i) {
            auto& n = *_nodes[static_cast<size_t>(i)];
            if (!n.r && _now >= n.restart_at) {
                start(i);
            }
        }
        if (chance(_rates.crash)) {
            int i = static_cast<int>(pick(static_cast<size_t>(node_count())));
            if (_nodes[static_cast<size_t>(i)]->r) {
                crash(i);
            }
        }
        if (auto l = current_leader(); l && chance(_rates.crash)) {
            crash(*l);  // leaders fail as often as anyone else, and matter more
        }
        if (auto l = current_leader(); l && chance(_rates.crash / 2)) {
            // A controlled shutdown starts with the leader resigning (EndQuorumEpoch).
            _nodes[static_cast<size_t>(*l)]->r->resign(_now);
            collect(*l);
            ++g_coverage.resignations;
        }
        if (chance(_rates.power_loss)) {
            crash_all();  // a power loss: only what every replica flushed survives
        }
        if (_heal_at && _now >= *_heal_at) {
            for (auto& n : _nodes) {
                n->side = 0;
            }
            _heal_at.reset();
        } else if (!_heal_at && chance(_rates.partition)) {
            for (auto& n : _nodes) {
                n->side = static_cast<int>(pick(2));
            }
            // Half the partitions cut the leader off with a minority: short reigns that leave
            // entries on a minority are what tempts a leader to commit an older epoch's
            // entries by counting replicas (Raft's figure 8).
            if (auto l = current_leader(); l && pick(2)) {
                for (auto& n : _nodes) {
                    n->side = 0;
                }
                _nodes[static_cast<size_t>(*l)]->side = 1;
                if (_voters == 5 && pick(2)) {
                    _nodes[static_cast<size_t>((*l + 1 + pick(4)) % 5)]->side = 1;
                }
            }
            _heal_at = _now + time_ms(50 + pick(pick(2) ? 200 : 800));
            ++g_coverage.partitions;
        }
        if (chance(_rates.append)) {
            int i = static_cast<int>(pick(static_cast<size_t>(node_count())));
            if (_nodes[static_cast<size_t>(i)]->r) {
                std::vector<std::string> records;
                for (size_t k = 0, count = 1 + pick(3); k < count; ++k) {
                    records.push_back(fmt::format("s{}-{}", _seed, _next_payload++));
                }
                (void)append_to(i, records);
            }
        }
        if (chance(_rates.snapshot)) {
            take_snapshot(static_cast<int>(pick(static_cast<size_t>(node_count()))));
        }
    }

    std::optional<kafka_offset> append_to(int i, const std::vector<std::string>& records) {
        auto& n = *_nodes[static_cast<size_t>(i)];
        auto at = n.r->append(records, _now);
        if (!at) {
            return std::nullopt;
        }
        for (size_t k = 0; k < records.size(); ++k) {
            _appended[{n.r->epoch(), *at + static_cast<int64_t>(k)}] = records[k];
        }
        return *at;
    }

    // The state machine's snapshot: the committed prefix, as this replica holds it.
    void take_snapshot(int i) {
        auto& n = *_nodes[static_cast<size_t>(i)];
        if (!n.r) {
            return;
        }
        auto hw = n.r->high_watermark();
        auto start = n.log.log_start_offset();
        if (hw - start < 5) {
            return;
        }
        std::string bytes;
        if (auto s = n.log.latest_snapshot()) {
            bytes = *n.log.read_snapshot(*s);
        }
        for (auto& e : n.log.read(start, static_cast<size_t>(hw - start))) {
            bytes += serialize(e);
        }
        n.r->take_snapshot(snapshot_id{hw, n.log.at(hw - 1).epoch}, std::move(bytes));
        ++g_coverage.snapshots_taken;
    }

    void collect(int i) {
        auto& n = *_nodes[static_cast<size_t>(i)];
        auto out = n.r->take_output();
        for (auto& m : out.messages) {
            send(std::move(m));
        }
        if (out.snapshot_installed) {
            ++g_coverage.snapshots_installed;
            auto id = *out.snapshot_installed;
            auto bytes = n.log.read_snapshot(id);
            auto want = committed_bytes(id.offset);
            if (!bytes || !want || *bytes != *want) {
                _failure = fmt::format(
                    "node {} installed snapshot at {} that is not the committed "
                    "prefix",
                    i + 1, id.offset.value());
            }
        }
    }

    std::optional<std::string> committed_bytes(kafka_offset end) const {
        if (static_cast<size_t>(end.value()) > _committed.size()) {
            return std::nullopt;
        }
        std::string s;
        for (int64_t o = 0; o < end.value(); ++o) {
            s += serialize(_committed[static_cast<size_t>(o)]);
        }
        return s;
    }

    bool cut(const message& m) const {
        return _nodes[static_cast<size_t>(m.from.value() - 1)]->side !=
               _nodes[static_cast<size_t>(m.to.value() - 1)]->side;
    }

    void send(message m) {
        if (cut(m) || chance(_rates.drop)) {
            return;
        }
        int copies = chance(_rates.duplicate) ? 2 : 1;
        for (int c = 0; c < copies; ++c) {
            auto at = _now + time_ms(1 + pick(static_cast<size_t>(_rates.delay_max_ms)));
            _network.emplace(std::pair(at, _next_seq++), m);
        }
    }

    void deliver_due() {
        while (!_network.empty() && _network.begin()->first.first <= _now) {
            auto m = std::move(_network.begin()->second);
            _network.erase(_network.begin());
            auto to = m.to.value() - 1;
            auto& n = *_nodes[static_cast<size_t>(to)];
            if (!n.r || cut(m)) {
                continue;
            }
            n.r->receive(m, _now);
            collect(to);
            // Crashes also strike between two messages, not only between steps.
            if (_rates.crash > 0 && chance(_rates.crash / 3)) {
                crash(to);
            } else if (chance(_rates.power_loss / 3)) {
                crash_all();
            }
        }
    }

    std::optional<int> current_leader() {
        for (int i = 0; i < node_count(); ++i) {
            auto& n = *_nodes[static_cast<size_t>(i)];
            if (n.r && n.r->current_role() == role::leader) {
                return i;
            }
        }
        return std::nullopt;
    }

    std::string describe_nodes() const {
        std::string s;
        for (int i = 0; i < node_count(); ++i) {
            const auto& n = *_nodes[static_cast<size_t>(i)];
            if (!n.r) {
                s += fmt::format("\n  node {}: down", i + 1);
                continue;
            }
            s += fmt::format("\n  node {}: {} epoch {} leader {} hw {} log [{}, {}) last epoch {}",
                             i + 1, role_name(n.r->current_role()), n.r->epoch().value(),
                             n.r->leader_id().value_or(no_node).value(),
                             n.r->high_watermark().value(), n.log.log_start_offset().value(),
                             n.log.end().value(), n.log.end_offset_and_epoch().epoch.value());
        }
        return s;
    }

    bool fail(const std::string& what) {
        ADD_FAILURE() << what << " (step " << _step << ", " << _voters << " voters, " << _observers
                      << " observers)" << describe_nodes()
                      << "\nreplay: RIACHO_RAFT_SEED=" << _seed;
        return false;
    }

    bool check() {
        if (_failure) {
            return fail(*_failure);
        }
        for (int i = 0; i < node_count(); ++i) {
            auto& n = *_nodes[static_cast<size_t>(i)];
            if (!n.r) {
                continue;
            }
            if (!check_leader(i, n) || !check_committed(i, n)) {
                return false;
            }
        }
        return true;
    }

    bool check_leader(int i, node& n) {
        if (n.r->current_role() != role::leader) {
            return true;
        }
        auto e = n.r->epoch();
        auto [it, inserted] = _epoch_leaders.emplace(e, i);
        if (!inserted && it->second != i) {
            return fail(fmt::format("two leaders in epoch {}: nodes {} and {}", e.value(),
                                    it->second + 1, i + 1));
        }
        if (n.checked_leader_epoch == e) {
            return true;
        }
        n.checked_leader_epoch = e;
        auto end = n.log.end();
        for (auto o = n.log.log_start_offset(); o < kafka_offset(_committed.size()); o += 1) {
            if (o >= end || !(n.log.at(o) == _committed[static_cast<size_t>(o.value())])) {
                return fail(fmt::format("node {} leads epoch {} without committed offset {}", i + 1,
                                        e.value(), o.value()));
            }
        }
        return true;
    }

    bool check_committed(int i, node& n) {
        auto hw = n.r->high_watermark();
        if (hw < n.last_high_watermark) {
            return fail(fmt::format("node {} high watermark went back from {} to {}", i + 1,
                                    n.last_high_watermark.value(), hw.value()));
        }
        n.last_high_watermark = hw;
        auto truncated = n.log.take_lowest_truncation();
        if (truncated < n.verified_end && truncated >= n.log.log_start_offset()) {
            return fail(fmt::format("node {} truncated committed offset {} (verified to {})", i + 1,
                                    truncated.value(), n.verified_end.value()));
        }
        auto from = std::max(n.verified_end, n.log.log_start_offset());
        if (from > kafka_offset(_committed.size()) && from < hw) {
            return fail(fmt::format("node {} commits from {} past the known prefix {}", i + 1,
                                    from.value(), _committed.size()));
        }
        for (auto o = from; o < hw; o += 1) {
            const auto& e = n.log.at(o);
            auto idx = static_cast<size_t>(o.value());
            if (idx < _committed.size()) {
                if (!(e == _committed[idx])) {
                    return fail(
                        fmt::format("node {} committed offset {} as '{}' epoch {}, but "
                                    "'{}' epoch {} was committed there",
                                    i + 1, o.value(), e.data, e.epoch.value(), _committed[idx].data,
                                    _committed[idx].epoch.value()));
                }
                continue;
            }
            if (e.kind == entry_kind::data) {
                auto a = _appended.find({e.epoch, o});
                if (a == _appended.end() || a->second != e.data) {
                    return fail(
                        fmt::format("committed offset {} holds '{}' which no client "
                                    "appended there in epoch {}",
                                    o.value(), e.data, e.epoch.value()));
                }
            }
            _committed.push_back(e);
        }
        n.verified_end = std::max(n.verified_end, hw);
        return true;
    }

    uint64_t _seed;
    std::mt19937_64 _rng;
    int _voters = 3;
    int _observers = 0;  // nodes _voters+1.. are outside the voter set
    int node_count() const { return _voters + _observers; }
    size_t _fetch_max_entries = 8;
    fault_rates _rates;
    std::vector<std::unique_ptr<node>> _nodes;
    std::map<std::pair<time_ms, uint64_t>, message> _network;
    uint64_t _next_seq = 0;
    std::optional<time_ms> _heal_at;
    time_ms _now{0};
    int _step = 0;
    uint64_t _next_payload = 0;
    std::vector<log_entry> _committed;  // the committed prefix from offset 0
    std::map<std::pair<leader_epoch, kafka_offset>, std::string> _appended;
    std::map<leader_epoch, int> _epoch_leaders;
    std::optional<std::string> _failure;
};

constexpr int fault_steps = 500;
constexpr time_ms heal_budget = 3000ms;

TEST(raft_simulation, seeded_quorums_keep_every_committed_entry_and_recover) {
    install_seed_printers();
    if (std::getenv("RIACHO_RAFT_DEBUG")) {
        log::set_level(log::level::debug);
    }
    if (const char* s = std::getenv("RIACHO_RAFT_SEED")) {
        g_current_seed = std::strtoull(s, nullptr, 10);
        EXPECT_TRUE(simulation(g_current_seed).run(fault_steps, heal_budget));
        return;
    }
    uint64_t seeds = 2000;
    if (const char* n = std::getenv("RIACHO_RAFT_SEEDS")) {
        seeds = std::strtoull(n, nullptr, 10);
    }
    uint64_t first = 1;
    if (const char* f = std::getenv("RIACHO_RAFT_FIRST_SEED")) {
        first = std::strtoull(f, nullptr, 10);
    }
    uint64_t ran = 0;
    for (uint64_t seed = first; seed < first + seeds && !HasFailure(); ++seed, ++ran) {
        g_current_seed = seed;
        simulation(seed).run(fault_steps, heal_budget);
    }
    const auto& c = g_coverage;
    fmt::print(
        "raft simulation: {} seeds x {} steps: {} epochs with a leader, {} crashes, {} partitions, "
        "{} resignations, {} log truncations, {} snapshots taken, {} installed, {} entries "
        "committed\n",
        ran, fault_steps, c.epochs, c.crashes, c.partitions, c.resignations, c.truncations,
        c.snapshots_taken, c.snapshots_installed, c.committed);
}

}  // namespace
}  // namespace riacho::raft
