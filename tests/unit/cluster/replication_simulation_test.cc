// Deterministic simulation of one partition's replication: 3 to 5 brokers on a seeded
// scheduler, driving the real decision code (cluster::controller on an in-memory metadata
// log, one per broker plus the active controller's: elections, ISR changes, eligible leader
// replicas; replication::partition_replicas: high watermark, ISR proposals with the maximal
// ISR, strict min ISR; leader_epoch_cache with diverging_epoch / truncation_offset: a
// returning replica's truncation). What the broker does with them is modelled in a few lines
// each: a leader appends and answers fetches, a follower fetches from whom its image names and
// cuts its log where the leader's answer says, every broker applies the metadata image after
// its own delay, and high watermarks are checkpointed now and then.
// Faults: brokers crash (a process crash: the log survives, memory and the unsaved high
// watermark do not) and return; links between brokers drop fetches; a broker is cut off from
// the controller (it is fenced while still serving); producers write with acks=all (and
// acks=1) to whichever broker believes it leads.
// After every step: one leader per epoch, an acting leader's high watermark never moves back
// within its epoch, a broker taking leadership holds every acknowledged record, and no ISR
// member holds another record at an acknowledged offset. After the faults heal, every replica
// rejoins the ISR and holds every acknowledged record at its offset.
// A failing seed prints RIACHO_REPLICATION_SEED=<seed>; set it to replay that seed only.
// RIACHO_REPLICATION_SEEDS=<n> changes how many run (default 500).
#include "base/log.h"
#include "cluster/controller.h"
#include "memory_metadata_log.h"
#include "replication/leader_epoch_cache.h"
#include "replication/partition_replicas.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

namespace riacho::cluster {
namespace {

using test::memory_metadata_log;

constexpr int64_t step_ms = 10;
constexpr int64_t lag_max_ms = 600;         // replica.lag.time.max.ms
constexpr int64_t isr_check_ms = 100;       // the leader's ISR timer
constexpr int64_t liveness_check_ms = 100;  // the active controller's
constexpr int64_t checkpoint_ms = 500;      // replication-offset-checkpoint
constexpr size_t fetch_max_batches = 3;

struct batch {
    int32_t epoch = 0;
    uint64_t value = 0;
};

struct broker_sim {
    int32_t id = 0;
    std::unique_ptr<memory_metadata_log> log_view;
    std::unique_ptr<controller> ctl;  // this broker's controller (its node's)
    bool up = true;
    int64_t restart_at = 0;
    bool cut_from_controller = false;
    std::vector<batch> log;  // offsets from 0
    replication::leader_epoch_cache epochs;
    std::shared_ptr<const metadata_image> image;  // what this broker has applied
    int64_t image_due_at = 0;
    std::optional<int32_t> led_epoch;
    std::optional<replication::partition_replicas> led;
    int64_t last_led_hw = -1;
    // An ISR change proposed to the controller, answered at isr_change_due_at.
    std::optional<int64_t> isr_change_due_at;
    std::vector<int32_t> proposed_isr;
    int32_t proposed_in_epoch = -1;
    int64_t known_hw = 0;
    int64_t checkpointed_hw = 0;

    int64_t log_end() const { return static_cast<int64_t>(log.size()); }
    const partition_info& partition() const { return image->find_topic("t")->partitions.front(); }
};

struct pending_ack {
    int32_t broker = 0;
    int32_t epoch = 0;
    int64_t offset = 0;
    uint64_t value = 0;
    int64_t deadline = 0;
};

class replication_simulation {
public:
    explicit replication_simulation(uint64_t seed, bool debug = false)
        : _seed(seed), _rng(seed), _debug(debug) {
        _brokers_count = 3 + static_cast<int>(pick(3));
        _rf = std::min<int>(_brokers_count, 2 + static_cast<int>(pick(2)));
        _min_isr = 1 + static_cast<int>(pick(static_cast<size_t>(_rf)));
        _crash_rate = pick(2) ? 0.002 : 0.006;
        _cut_rate = pick(2) ? 0.003 : 0.01;
        _metadata_delay_max_ms = pick(2) ? 50 : 400;
        _active = std::make_unique<controller>(_log, 0);
        for (int i = 0; i < _brokers_count; ++i) {
            auto b = std::make_unique<broker_sim>();
            b->id = i + 1;
            b->log_view = std::make_unique<memory_metadata_log>(_log.other_node());
            b->ctl = std::make_unique<controller>(*b->log_view, b->id);
            _brokers.push_back(std::move(b));
            EXPECT_EQ(_active->register_broker({i + 1, "sim", 9092, std::nullopt}).error,
                      protocol::error_code::none);
        }
        std::vector<int32_t> replicas;
        for (int i = 0; i < _rf; ++i) {
            replicas.push_back(1 + static_cast<int32_t>((i + pick(2)) % _brokers_count));
        }
        std::sort(replicas.begin(), replicas.end());
        replicas.erase(std::unique(replicas.begin(), replicas.end()), replicas.end());
        _rf = static_cast<int>(replicas.size());
        _min_isr = std::min(_min_isr, _rf);
        auto created = _active->create_topic("t", 1, static_cast<int16_t>(replicas.size()),
                                             {{"min.insync.replicas", std::to_string(_min_isr)}},
                                             false, {replicas});
        EXPECT_EQ(created.error, protocol::error_code::none) << created.message;
        for (auto& b : _brokers) {
            apply_image(*b);
        }
    }

    bool run(int fault_steps, int heal_steps) {
        for (int i = 0; i < fault_steps; ++i) {
            if (!step(true)) {
                return false;
            }
        }
        heal();
        for (int i = 0; i < heal_steps; ++i) {
            if (!step(false)) {
                return false;
            }
        }
        return check_healed();
    }

private:
    size_t pick(size_t n) { return static_cast<size_t>(_rng() % n); }
    bool chance(double p) { return std::uniform_real_distribution<double>(0, 1)(_rng) < p; }
    broker_sim& broker(int32_t id) { return *_brokers[static_cast<size_t>(id - 1)]; }
    template <typename... Args>
    void trace(fmt::format_string<Args...> format, Args&&... args) {
        if (_debug) {
            fmt::print("t={} {}\n", _now, fmt::format(format, std::forward<Args>(args)...));
        }
    }

    bool fail(const std::string& what) {
        std::string nodes;
        for (const auto& b : _brokers) {
            nodes += fmt::format("\n  broker {}: {} log end {} known hw {} led epoch {}", b->id,
                                 b->up ? "up" : "down", b->log_end(), b->known_hw,
                                 b->led_epoch.value_or(-1));
        }
        const auto& p = _active->image()->find_topic("t")->partitions.front();
        ADD_FAILURE() << what << " (t=" << _now << "ms; " << _brokers_count << " brokers, RF "
                      << _rf << ", min ISR " << _min_isr << "; leader " << p.leader << " epoch "
                      << p.leader_epoch << " ISR [" << fmt::format("{}", fmt::join(p.isr, ","))
                      << "] ELR [" << fmt::format("{}", fmt::join(p.elr, ",")) << "])" << nodes
                      << "\nreplay: RIACHO_REPLICATION_SEED=" << _seed;
        return false;
    }

    // ------------------------------------------------------------------------ the model

    void apply_image(broker_sim& b) {
        b.ctl->catch_up();
        b.image = b.ctl->image();
        b.image_due_at = _now + static_cast<int64_t>(pick(_metadata_delay_max_ms + 1));
        become(b);
    }

    // replica_manager::reconcile for one partition.
    void become(broker_sim& b) {
        const auto& p = b.partition();
        if (p.leader != b.id) {
            b.led.reset();
            b.led_epoch.reset();
            b.isr_change_due_at.reset();
            return;
        }
        if (b.led_epoch == p.leader_epoch) {
            b.led->set_isr(p.isr, b.log_end(), _now);
            return;
        }
        auto [it, fresh] = _epoch_leader.emplace(p.leader_epoch, b.id);
        if (!fresh && it->second != b.id) {
            _failure =
                fmt::format("epoch {} led by brokers {} and {}", p.leader_epoch, it->second, b.id);
            return;
        }
        // Leader completeness: whoever takes over holds every acknowledged record.
        for (const auto& [offset, value] : _acked) {
            if (offset >= b.log_end() || b.log[static_cast<size_t>(offset)].value != value) {
                _failure = fmt::format("broker {} leads epoch {} without acknowledged offset {}",
                                       b.id, p.leader_epoch, offset);
                return;
            }
        }
        trace("broker {} leads epoch {} (log end {}, hw {}, ISR [{}])", b.id, p.leader_epoch,
              b.log_end(), b.known_hw, fmt::join(p.isr, ","));
        b.led_epoch = p.leader_epoch;
        b.isr_change_due_at.reset();
        b.led.emplace(b.id, p.replicas, p.isr, b.log_end(), b.known_hw, _now,
                      static_cast<int32_t>(
                          std::min<size_t>(static_cast<size_t>(_min_isr), p.replicas.size())));
        b.last_led_hw = b.led->high_watermark();
    }

    void crash(broker_sim& b) {
        trace("broker {} crashes", b.id);
        b.up = false;
        b.isr_change_due_at.reset();
        b.led.reset();
        b.led_epoch.reset();
        b.restart_at = _now + 200 + static_cast<int64_t>(pick(1500));
    }

    void restart(broker_sim& b) {
        b.up = true;
        b.known_hw = std::min(b.checkpointed_hw, b.log_end());
        b.epochs = {};
        for (size_t o = 0; o < b.log.size(); ++o) {
            b.epochs.on_append(b.log[o].epoch, static_cast<int64_t>(o));
        }
        apply_image(b);
    }

    void append(broker_sim& b, bool acks_all) {
        if (acks_all && static_cast<int32_t>(b.led->isr().size()) < _min_isr) {
            return;  // NOT_ENOUGH_REPLICAS
        }
        uint64_t value = ++_next_value;
        int64_t offset = b.log_end();
        b.log.push_back({*b.led_epoch, value});
        b.epochs.on_append(*b.led_epoch, offset);
        b.led->on_leader_append(b.log_end());
        if (acks_all) {
            _pending.push_back({b.id, *b.led_epoch, offset, value, _now + 2000});
        }
    }

    void fetch(broker_sim& follower) {
        const auto& p = follower.partition();
        if (p.leader < 0 || p.leader == follower.id ||
            std::find(p.replicas.begin(), p.replicas.end(), follower.id) == p.replicas.end()) {
            return;
        }
        auto& leader = broker(p.leader);
        if (!leader.up || _cut_links.count({follower.id, leader.id}) != 0 ||
            leader.led_epoch != p.leader_epoch) {
            return;  // unreachable, or not (yet, any more) leading that epoch
        }
        int64_t fetch_offset = follower.log_end();
        // As handle_fetch: the diverging-epoch check first, then the offset range.
        if (auto diverging = replication::diverging_epoch(
                leader.epochs, fetch_offset, follower.epochs.latest_epoch(), leader.log_end())) {
            trace("broker {} diverges from {} at {} (epoch {} ends at {} there)", follower.id,
                  leader.id, fetch_offset, diverging->epoch, diverging->end_offset);
            truncate(follower,
                     replication::truncation_offset(follower.epochs, *diverging, 0, fetch_offset));
            return;
        }
        if (fetch_offset > leader.log_end()) {
            // OFFSET_OUT_OF_RANGE above the leader's end: back to its high watermark.
            trace("broker {} fetches {} above leader {}'s end {}", follower.id, fetch_offset,
                  leader.id, leader.log_end());
            truncate(follower, leader.led->high_watermark());
            return;
        }
        leader.led->on_follower_fetch(follower.id, fetch_offset, leader.log_end(), _now);
        for (size_t n = 0; n < fetch_max_batches && follower.log_end() < leader.log_end(); ++n) {
            const auto& next = leader.log[static_cast<size_t>(follower.log_end())];
            follower.epochs.on_append(next.epoch, follower.log_end());
            follower.log.push_back(next);
        }
        follower.known_hw = std::min(leader.led->high_watermark(), follower.log_end());
    }

    void truncate(broker_sim& b, int64_t to) {
        to = std::max<int64_t>(to, 0);
        if (to < b.log_end()) {
            trace("broker {} truncates from {} to {}", b.id, b.log_end(), to);
            b.log.resize(static_cast<size_t>(to));
            b.epochs.truncate_to(to);
        }
    }

    // replica_manager::check_isr: propose, then (a controller round trip later, while the
    // leader goes on appending and acknowledging) the change through this broker's
    // controller.
    void check_isr(broker_sim& b) {
        if (b.isr_change_due_at) {
            return;  // one in flight
        }
        auto wanted = b.led->wanted_isr(_now, lag_max_ms);
        if (!wanted) {
            return;
        }
        b.led->propose_isr(*wanted);
        trace("broker {} proposes ISR [{}] in epoch {} (hw {})", b.id, fmt::join(*wanted, ","),
              *b.led_epoch, b.led->high_watermark());
        b.proposed_isr = *wanted;
        b.proposed_in_epoch = *b.led_epoch;
        b.isr_change_due_at = _now + step_ms * static_cast<int64_t>(1 + pick(8));
    }

    void finish_isr_change(broker_sim& b) {
        b.isr_change_due_at.reset();
        int32_t epoch = b.proposed_in_epoch;
        if (b.led_epoch != epoch) {
            return;  // the leadership this was proposed in is gone
        }
        auto changed = b.cut_from_controller
                           ? change_result{protocol::error_code::request_timed_out, "", nullptr}
                           : b.ctl->change_isr("t", 0, epoch, b.proposed_isr);
        if (changed.error != protocol::error_code::none) {
            if (b.led && b.led_epoch == epoch) {
                b.led->proposal_failed();
            }
            return;
        }
        trace("broker {}: ISR [{}] recorded (hw {})", b.id, fmt::join(b.proposed_isr, ","),
              b.led->high_watermark());
        apply_image(b);  // the commit applies on this broker at once
        if (_faults && chance(0.1)) {
            // The moment a replica joins the ISR is when a leader lost before the newcomer
            // fetched again tests what the newcomer may lack.
            crash(b);
        }
    }

    // ------------------------------------------------------------------------ stepping

    bool step(bool faults) {
        _now += step_ms;
        _faults = faults;
        if (faults) {
            inject_faults();
        }
        for (auto& b : _brokers) {
            if (!b->up && _now >= b->restart_at) {
                restart(*b);
            }
        }
        if (_now % liveness_check_ms == 0) {
            std::set<int32_t> alive;
            for (const auto& b : _brokers) {
                if (b->up && !b->cut_from_controller) {
                    alive.insert(b->id);
                }
            }
            _active->elect_leaders(alive, {}, true);
        }
        for (auto& b : _brokers) {
            if (b->up && _now >= b->image_due_at) {
                apply_image(*b);
            }
        }
        for (auto& b : _brokers) {
            if (b->up && chance(0.7)) {
                fetch(*b);
            }
        }
        for (auto& b : _brokers) {
            if (b->up && b->led && b->isr_change_due_at && _now >= *b->isr_change_due_at) {
                finish_isr_change(*b);
            }
            if (b->up && b->led && _now % isr_check_ms == 0) {
                check_isr(*b);
            }
            if (b->up && b->led && chance(0.3)) {
                append(*b, chance(0.8));
            }
            if (b->up && b->led) {
                b->known_hw = b->led->high_watermark();  // _known_high_watermark on a leader
            }
            if (b->up && _now % checkpoint_ms == 0) {
                b->checkpointed_hw = b->led ? b->led->high_watermark() : b->known_hw;
            }
        }
        settle_acks();
        return check();
    }

    void inject_faults() {
        if (chance(_crash_rate)) {
            auto& b = *_brokers[pick(_brokers.size())];
            if (b.up) {
                crash(b);
            }
        }
        if (chance(_cut_rate)) {
            auto a = 1 + static_cast<int32_t>(pick(_brokers.size()));
            auto c = 1 + static_cast<int32_t>(pick(_brokers.size()));
            if (a != c) {
                _cut_links.insert({a, c});
                if (chance(0.5)) {
                    _cut_links.insert({c, a});
                }
            }
        }
        if (chance(_cut_rate / 2)) {
            auto& b = *_brokers[pick(_brokers.size())];
            b.cut_from_controller = !b.cut_from_controller;
        }
        if (chance(0.01)) {
            _cut_links.clear();
        }
    }

    void heal() {
        _cut_links.clear();
        for (auto& b : _brokers) {
            b->cut_from_controller = false;
            if (!b->up) {
                b->restart_at = _now;
            }
        }
    }

    void settle_acks() {
        std::erase_if(_pending, [&](const pending_ack& a) {
            auto& b = broker(a.broker);
            if (!b.up || b.led_epoch != a.epoch || _now >= a.deadline) {
                return true;  // failed: the producer retries with a new record
            }
            if (b.led->high_watermark() > a.offset) {
                trace("acked offset {} on broker {} epoch {} (hw {}, ISR [{}])", a.offset, b.id,
                      a.epoch, b.led->high_watermark(), fmt::join(b.led->isr(), ","));
                _acked.emplace(a.offset, a.value);
                return true;
            }
            return false;
        });
    }

    bool check() {
        if (_failure) {
            return fail(*_failure);
        }
        for (auto& b : _brokers) {
            if (!b->up || !b->led) {
                continue;
            }
            if (b->led->high_watermark() < b->last_led_hw) {
                return fail(fmt::format("broker {}'s high watermark went back from {} to {}", b->id,
                                        b->last_led_hw, b->led->high_watermark()));
            }
            b->last_led_hw = b->led->high_watermark();
        }
        const auto& p = _active->image()->find_topic("t")->partitions.front();
        for (int32_t id : p.isr) {
            auto& b = broker(id);
            for (const auto& [offset, value] : _acked) {
                if (offset < b.log_end() && b.log[static_cast<size_t>(offset)].value != value) {
                    return fail(
                        fmt::format("ISR member {} holds another record at acknowledged offset {}",
                                    id, offset));
                }
            }
        }
        return true;
    }

    bool check_healed() {
        const auto& p = _active->image()->find_topic("t")->partitions.front();
        if (p.leader < 0 || p.isr.size() != p.replicas.size()) {
            return fail("after healing the ISR is not whole");
        }
        for (int32_t id : p.replicas) {
            auto& b = broker(id);
            for (const auto& [offset, value] : _acked) {
                if (offset >= b.log_end() || b.log[static_cast<size_t>(offset)].value != value) {
                    return fail(fmt::format("after healing replica {} lacks acknowledged offset {}",
                                            id, offset));
                }
            }
        }
        _acked_total = _acked.size();
        return true;
    }

public:
    size_t acked_total() const { return _acked_total; }
    size_t epochs() const { return _epoch_leader.size(); }

private:
    uint64_t _seed;
    std::mt19937_64 _rng;
    bool _debug = false;
    bool _faults = false;  // in the faulty phase
    int _brokers_count = 3;
    int _rf = 3;
    int _min_isr = 1;
    double _crash_rate = 0;
    double _cut_rate = 0;
    size_t _metadata_delay_max_ms = 50;
    memory_metadata_log _log;
    std::unique_ptr<controller> _active;  // the active controller (a controller-only node)
    std::vector<std::unique_ptr<broker_sim>> _brokers;
    std::set<std::pair<int32_t, int32_t>> _cut_links;  // (from, to): fetches dropped
    std::vector<pending_ack> _pending;
    std::map<int64_t, uint64_t> _acked;  // offset -> value, acks=all
    std::map<int32_t, int32_t> _epoch_leader;
    uint64_t _next_value = 0;
    int64_t _now = 0;
    size_t _acked_total = 0;
    std::optional<std::string> _failure;
};

constexpr int fault_steps = 1500;  // 15 s of simulated time
constexpr int heal_steps = 1000;

TEST(replication_simulation, acknowledged_records_survive_crashes_cuts_and_elections) {
    log::set_level(log::level::warn);  // elections and ISR changes log at info
    if (const char* s = std::getenv("RIACHO_REPLICATION_SEED")) {
        if (std::getenv("RIACHO_REPLICATION_DEBUG")) {
            log::set_level(log::level::info);  // the controllers' decisions
        }
        replication_simulation sim(std::strtoull(s, nullptr, 10),
                                   std::getenv("RIACHO_REPLICATION_DEBUG") != nullptr);
        EXPECT_TRUE(sim.run(fault_steps, heal_steps));
        return;
    }
    uint64_t seeds = 500;
    if (const char* n = std::getenv("RIACHO_REPLICATION_SEEDS")) {
        seeds = std::strtoull(n, nullptr, 10);
    }
    size_t acked = 0;
    size_t epochs = 0;
    for (uint64_t seed = 1; seed <= seeds && !HasFailure(); ++seed) {
        replication_simulation sim(seed);
        sim.run(fault_steps, heal_steps);
        acked += sim.acked_total();
        epochs += sim.epochs();
    }
    fmt::print("replication simulation: {} seeds, {} leader epochs, {} records acknowledged\n",
               seeds, epochs, acked);
    EXPECT_GT(acked, seeds * 10) << "the simulation barely produced";
}

}  // namespace
}  // namespace riacho::cluster
