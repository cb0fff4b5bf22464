// The transaction coordinator's state machine: the API rules (fencing, errors, timeouts,
// KIP-360 re-initialisation) and a deterministic run over thousands of seeded event orders
// (producers initialising, adding partitions, committing and aborting; markers written late;
// timeouts; stale producers; coordinator restarts from the stored records) that checks after
// every step that no transaction is both committed and aborted, that every marker written
// matches its transaction's outcome, that epochs never go back, and that a restarted
// coordinator has the same state. A failing seed prints RIACHO_TXN_SEED=<seed> to replay.
#include "txn/coordinator.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <deque>
#include <map>
#include <random>

namespace riacho::txn {
namespace {

struct env {
    int64_t next_id = 1000;
    coordinator make() {
        coordinator_config cfg;
        cfg.max_timeout_ms = 60000;
        cfg.state_partitions = 5;
        cfg.offsets_partitions = 3;
        return coordinator(cfg, [this] { return next_id++; });
    }
};

bool always(const topic_partition&) { return true; }

TEST(txn_coordinator, init_add_commit_then_the_next_transaction) {
    env e;
    auto c = e.make();
    auto init = c.init_producer_id("app", 30000, -1, -1, 0);
    ASSERT_EQ(init.error, error_code::none);
    EXPECT_EQ(init.producer_epoch, 0);
    auto add = c.add_partitions("app", init.producer_id, 0, {{"t", 0}, {"t", 1}}, always, false, 5);
    ASSERT_EQ(add.error, error_code::none);
    EXPECT_EQ(c.find("app")->state, txn_state::ongoing);
    EXPECT_EQ(c.check_produce(init.producer_id, 0, {"t", 1}), error_code::none);
    EXPECT_EQ(c.check_produce(init.producer_id, 0, {"t", 2}), error_code::invalid_txn_state);
    auto end = c.end_txn("app", init.producer_id, 0, true, false, 10);
    ASSERT_EQ(end.error, error_code::none);
    ASSERT_TRUE(end.markers);
    EXPECT_TRUE(end.markers->commit);
    EXPECT_EQ(end.markers->partitions.size(), 2u);
    EXPECT_EQ(c.find("app")->state, txn_state::prepare_commit);
    // While markers are written, the producer must wait.
    EXPECT_EQ(c.add_partitions("app", init.producer_id, 0, {{"t", 0}}, always, false, 11).error,
              error_code::concurrent_transactions);
    c.markers_written(*end.markers, 12);
    EXPECT_EQ(c.find("app")->state, txn_state::complete_commit);
    EXPECT_TRUE(c.find("app")->partitions.empty());
    // A retried EndTxn(commit) succeeds; an abort now is refused.
    EXPECT_EQ(c.end_txn("app", init.producer_id, 0, true, false, 13).error, error_code::none);
    EXPECT_EQ(c.end_txn("app", init.producer_id, 0, false, false, 13).error,
              error_code::invalid_txn_state);
    EXPECT_EQ(c.add_partitions("app", init.producer_id, 0, {{"t", 3}}, always, false, 14).error,
              error_code::none);
    EXPECT_EQ(c.find("app")->partitions.size(), 1u);
}

TEST(txn_coordinator, errors_for_unknown_ids_bad_timeouts_and_unknown_partitions) {
    env e;
    auto c = e.make();
    EXPECT_EQ(c.init_producer_id("app", 0, -1, -1, 0).error,
              error_code::invalid_transaction_timeout);
    EXPECT_EQ(c.init_producer_id("app", 60001, -1, -1, 0).error,
              error_code::invalid_transaction_timeout);
    EXPECT_EQ(c.end_txn("nobody", 1, 0, true, false, 0).error,
              error_code::invalid_producer_id_mapping);
    auto init = c.init_producer_id("app", 1000, -1, -1, 0);
    EXPECT_EQ(c.end_txn("app", init.producer_id + 1, 0, true, false, 0).error,
              error_code::invalid_producer_id_mapping);
    EXPECT_EQ(c.end_txn("app", init.producer_id, 0, true, false, 0).error,
              error_code::invalid_txn_state);
    EXPECT_EQ(c.end_txn("app", init.producer_id, 1, true, false, 0).error,
              error_code::invalid_producer_epoch);
    auto add = c.add_partitions(
        "app", init.producer_id, 0, {{"t", 0}, {"gone", 0}},
        [](const topic_partition& tp) { return tp.topic == "t"; }, false, 0);
    EXPECT_EQ(add.partition_errors.at({"gone", 0}), error_code::unknown_topic_or_partition);
    EXPECT_EQ(add.partition_errors.at({"t", 0}), error_code::operation_not_attempted);
    EXPECT_EQ(c.find("app")->state, txn_state::empty);
}

TEST(txn_coordinator, a_new_incarnation_fences_and_aborts_the_open_transaction) {
    env e;
    auto c = e.make();
    auto first = c.init_producer_id("app", 30000, -1, -1, 0);
    ASSERT_EQ(c.add_partitions("app", first.producer_id, 0, {{"t", 0}}, always, false, 0).error,
              error_code::none);
    auto second = c.init_producer_id("app", 30000, -1, -1, 1);
    EXPECT_EQ(second.error, error_code::concurrent_transactions);
    ASSERT_TRUE(second.abort_first);
    EXPECT_FALSE(second.abort_first->commit);
    EXPECT_EQ(second.abort_first->producer_epoch, 1);  // the markers fence epoch 0
    c.markers_written(*second.abort_first, 2);
    auto again = c.init_producer_id("app", 30000, -1, -1, 3);
    ASSERT_EQ(again.error, error_code::none);
    EXPECT_EQ(again.producer_id, first.producer_id);
    EXPECT_EQ(again.producer_epoch, 2);
    EXPECT_EQ(c.end_txn("app", first.producer_id, 0, true, false, 4).error,
              error_code::producer_fenced);
    EXPECT_EQ(c.check_produce(first.producer_id, 0, {"t", 0}), error_code::invalid_producer_epoch);
}

TEST(txn_coordinator, timeouts_abort_under_a_new_epoch_and_the_producer_can_reinitialise) {
    env e;
    auto c = e.make();
    auto init = c.init_producer_id("app", 1000, -1, -1, 0);
    ASSERT_EQ(c.add_partitions("app", init.producer_id, 0, {{"t", 0}}, always, false, 100).error,
              error_code::none);
    EXPECT_TRUE(c.tick(1100).empty());  // exactly at the timeout: not yet
    auto jobs = c.tick(1101);
    ASSERT_EQ(jobs.size(), 1u);
    EXPECT_FALSE(jobs[0].commit);
    EXPECT_EQ(jobs[0].producer_epoch, 1);
    c.markers_written(jobs[0], 1102);
    EXPECT_EQ(c.find("app")->state, txn_state::complete_abort);
    // A version 1 producer that timed out is fenced, whatever it asks (as Kafka answers).
    EXPECT_EQ(c.end_txn("app", init.producer_id, 0, true, false, 1200).error,
              error_code::producer_fenced);
    EXPECT_EQ(c.end_txn("app", init.producer_id, 0, false, false, 1200).error,
              error_code::producer_fenced);
    // KIP-360: it may re-initialise naming its old epoch.
    auto re = c.init_producer_id("app", 1000, init.producer_id, 0, 1300);
    ASSERT_EQ(re.error, error_code::none);
    EXPECT_EQ(re.producer_epoch, 2);
}

TEST(txn_coordinator, an_unloaded_partition_forgets_only_its_ids_and_reloads_from_records) {
    env e;
    auto c = e.make();
    // Two ids in different __transaction_state partitions.
    std::string other = "other";
    for (int i = 0; c.partition_for(other) == c.partition_for("app"); ++i) {
        other = "other" + std::to_string(i);
    }
    auto app = c.init_producer_id("app", 30000, -1, -1, 0);
    auto kept = c.init_producer_id(other, 30000, -1, -1, 0);
    ASSERT_EQ(c.add_partitions("app", app.producer_id, 0, {{"t", 0}}, always, false, 1).error,
              error_code::none);
    auto records = c.take_records();
    ASSERT_EQ(c.add_partitions("app", app.producer_id, 0, {{"t", 1}}, always, false, 2).error,
              error_code::none);  // queued, not taken: dropped with the partition
    c.unload_partition(c.partition_for("app"));
    EXPECT_EQ(c.find("app"), nullptr);
    EXPECT_EQ(c.check_produce(app.producer_id, 0, {"t", 0}), error_code::invalid_txn_state);
    ASSERT_NE(c.find(other), nullptr);
    EXPECT_EQ(c.find(other)->producer_id, kept.producer_id);
    for (const auto& r : c.take_records()) {
        EXPECT_NE(r.partition, c.partition_for("app"));
    }
    // Leading it again: its records bring the open transaction back.
    for (const auto& r : records) {
        if (r.partition == c.partition_for("app")) {
            c.load_record(r.key, r.value);
        }
    }
    ASSERT_NE(c.find("app"), nullptr);
    EXPECT_EQ(c.find("app")->state, txn_state::ongoing);
    EXPECT_EQ(c.check_produce(app.producer_id, 0, {"t", 0}), error_code::none);
}

TEST(txn_coordinator, records_replay_to_the_same_state_and_prepared_transactions_resume) {
    env e;
    auto c = e.make();
    auto init = c.init_producer_id("app", 30000, -1, -1, 0);
    ASSERT_EQ(
        c.add_partitions("app", init.producer_id, 0, {{"t", 0}, {"u", 2}}, always, false, 5).error,
        error_code::none);
    auto end = c.end_txn("app", init.producer_id, 0, true, false, 10);
    ASSERT_TRUE(end.markers);
    auto records = c.take_records();
    auto restarted = e.make();
    for (const auto& r : records) {
        EXPECT_EQ(r.partition, c.partition_for("app"));
        restarted.load_record(r.key, r.value);
    }
    const txn_metadata* m = restarted.find("app");
    ASSERT_NE(m, nullptr);
    EXPECT_EQ(m->state, txn_state::prepare_commit);
    EXPECT_EQ(m->partitions, c.find("app")->partitions);
    auto pending = restarted.pending_markers();
    ASSERT_EQ(pending.size(), 1u);
    EXPECT_TRUE(pending[0].commit);
    EXPECT_EQ(pending[0].partitions, end.markers->partitions);
    restarted.markers_written(pending[0], 20);
    EXPECT_EQ(restarted.find("app")->state, txn_state::complete_commit);
}

TEST(txn_coordinator, version2_bumps_the_epoch_on_every_end_and_answers_retries) {
    env e;
    auto c = e.make();
    auto init = c.init_producer_id("app", 30000, -1, -1, 0);
    int64_t pid = init.producer_id;
    ASSERT_EQ(c.add_partitions("app", pid, 0, {{"t", 0}}, always, false, 1).error,
              error_code::none);
    auto end = c.end_txn("app", pid, 0, true, true, 2);
    ASSERT_TRUE(end.markers);
    EXPECT_EQ(end.markers->producer_epoch, 1);  // markers fence epoch 0
    c.markers_written(*end.markers, 3);
    EXPECT_EQ(c.find("app")->producer_epoch, 1);
    EXPECT_TRUE(c.find("app")->version2);
    // A retry of that EndTxn (old epoch) gets the outcome; the opposite one is an invalid
    // state transition (Kafka's answer).
    EXPECT_EQ(c.end_txn("app", pid, 0, true, true, 4).error, error_code::none);
    EXPECT_EQ(c.end_txn("app", pid, 0, false, true, 4).error, error_code::invalid_txn_state);
    EXPECT_EQ(c.check_produce(pid, 0, {"t", 0}), error_code::invalid_producer_epoch);
    // The state record says version 2 and replays so.
    auto records = c.take_records();
    auto restarted = e.make();
    for (const auto& r : records) {
        restarted.load_record(r.key, r.value);
    }
    EXPECT_TRUE(restarted.find("app")->version2);
    EXPECT_EQ(restarted.find("app")->producer_epoch, 1);
}

TEST(txn_coordinator, version2_moves_to_a_new_producer_id_when_epochs_run_out) {
    env e;
    auto c = e.make();
    auto init = c.init_producer_id("app", 30000, -1, -1, 0);
    int64_t pid = init.producer_id;
    int16_t epoch = 0;
    for (int i = 0; i < INT16_MAX; ++i) {
        ASSERT_EQ(c.add_partitions("app", pid, epoch, {{"t", 0}}, always, false, i).error,
                  error_code::none)
            << "transaction " << i;
        auto end = c.end_txn("app", pid, epoch, i % 2 == 0, true, i);
        ASSERT_TRUE(end.markers);
        EXPECT_EQ(end.markers->producer_id, pid);  // the old transaction's markers
        c.markers_written(*end.markers, i);
        const txn_metadata* m = c.find("app");
        if (m->producer_id != pid) {
            EXPECT_EQ(m->producer_epoch, 0);
            EXPECT_GE(end.markers->producer_epoch, INT16_MAX - 1);
            return;
        }
        epoch = m->producer_epoch;
    }
    FAIL() << "the producer id never changed";
}

TEST(txn_coordinator, state_records_have_kafka_4_bytes) {
    // Kafka 4.1.1 wrote this TransactionLogValue (v1) for an Ongoing transaction of a
    // librdkafka (transaction version 1) producer, id 0 epoch 0, timeout 600000 ms, on
    // partitions 0 and 1 of one topic (the topic name shortened to "t" here; timestamps are
    // the two int64 after the partitions).
    env e;
    e.next_id = 0;
    auto c = e.make();
    auto init = c.init_producer_id("app", 60000, -1, -1, 0);
    ASSERT_EQ(init.producer_id, 0);
    ASSERT_EQ(
        c.add_partitions("app", 0, 0, {{"t", 0}, {"t", 1}}, always, false, 0x1a226198fd8).error,
        error_code::none);
    auto records = c.take_records();
    ASSERT_EQ(records.size(), 2u);
    const std::vector<uint8_t> kafka_key = {0x00, 0x00, 0x00, 0x03, 'a', 'p', 'p'};
    EXPECT_EQ(records[1].key, kafka_key);
    const std::vector<uint8_t> kafka_value = {
        0x00, 0x01,                                         // value version 1
        0,    0,    0,    0,    0,    0,    0,    0,        // producer id
        0x00, 0x00,                                         // epoch
        0x00, 0x00, 0xea, 0x60,                             // timeout 60000 (Kafka's run: 600000)
        0x01,                                               // Ongoing
        0x02, 0x02, 't',                                    // one topic, compact string "t"
        0x03, 0,    0,    0,    0,    0,    0,    0,    1,  // partitions [0, 1]
        0x00,                                               // the struct's tagged fields
        0,    0,    0x01, 0xa2, 0x26, 0x19, 0x8f, 0xd8,     // last update
        0,    0,    0x01, 0xa2, 0x26, 0x19, 0x8f, 0xd8,     // start
        0x00};                                              // no tagged fields
    ASSERT_TRUE(records[1].value);
    EXPECT_EQ(*records[1].value, kafka_value);
}

// ---------------------------------------------------------------- seeded simulation

struct client {
    int64_t producer_id = -1;
    int16_t producer_epoch = -1;
    bool initialised = false;
};

class simulation {
public:
    // Odd seeds run clients of transaction version 2 (every EndTxn bumps the epoch).
    explicit simulation(uint64_t seed)
        : _rng(seed), _seed(seed), _version2(seed % 2 == 1), _c(_env.make()) {}

    void run(int steps) {
        for (int step = 0; step < steps && !::testing::Test::HasFailure(); ++step) {
            SCOPED_TRACE(::testing::Message() << "RIACHO_TXN_SEED=" << _seed << " step " << step);
            _now += pick(0, 400);
            int op = pick(0, 99);
            const std::string id = "id-" + std::to_string(pick(0, 2));
            if (op < 15) {
                init(id);
            } else if (op < 40) {
                add(id);
            } else if (op < 55) {
                end(id, pick(0, 2) != 0);
            } else if (op < 75) {
                write_one_job();
            } else if (op < 85) {
                for (auto& job : _c.tick(_now)) {
                    record_outcome(job);
                    _jobs.push_back(job);
                }
            } else if (op < 92) {
                stale_request(id);
            } else {
                restart();
            }
            check_invariants();
            sync_records();
        }
    }

private:
    int pick(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(_rng); }

    // A transaction instance: the id and how many transactions it began before.
    using instance = std::pair<std::string, int>;

    void init(const std::string& id) {
        auto& cl = _clients[id];
        auto r = _c.init_producer_id(id, 2000, cl.initialised ? cl.producer_id : -1,
                                     cl.initialised ? cl.producer_epoch : -1, _now);
        if (r.abort_first) {
            record_outcome(*r.abort_first);
            _jobs.push_back(*r.abort_first);
        }
        if (r.error == error_code::none) {
            EXPECT_TRUE(!cl.initialised || r.producer_epoch > cl.producer_epoch ||
                        r.producer_id != cl.producer_id);
            cl = {r.producer_id, r.producer_epoch, true};
        }
    }

    void add(const std::string& id) {
        auto& cl = _clients[id];
        if (!cl.initialised) {
            return;
        }
        auto before = _c.find(id) ? _c.find(id)->state : txn_state::dead;
        std::vector<topic_partition> tps{{"t", pick(0, 3)}};
        auto r = _c.add_partitions(id, cl.producer_id, cl.producer_epoch, tps, always, false, _now);
        if (r.error == error_code::none && before != txn_state::ongoing) {
            ++_began[id];
        }
        if (r.error == error_code::none) {
            EXPECT_EQ(_c.check_produce(cl.producer_id, cl.producer_epoch, tps[0]),
                      error_code::none);
        }
    }

    void end(const std::string& id, bool commit) {
        auto& cl = _clients[id];
        if (!cl.initialised) {
            return;
        }
        auto r = _c.end_txn(id, cl.producer_id, cl.producer_epoch, commit, _version2, _now);
        if (r.markers) {
            EXPECT_EQ(r.error, error_code::none);
            EXPECT_EQ(r.markers->commit, commit);
            record_outcome(*r.markers);
            _jobs.push_back(*r.markers);
            if (_version2) {
                // The answer (once the markers are written) names the bumped epoch.
                EXPECT_GT(r.markers->producer_epoch, cl.producer_epoch);
                cl.producer_epoch = r.markers->producer_epoch;
            }
        }
    }

    void stale_request(const std::string& id) {
        auto& cl = _clients[id];
        if (!cl.initialised || cl.producer_epoch == 0) {
            return;
        }
        int16_t old = static_cast<int16_t>(cl.producer_epoch - 1);
        auto add = _c.add_partitions(id, cl.producer_id, old, {{"t", 0}}, always, false, _now);
        const txn_metadata* m = _c.find(id);
        if (m->producer_epoch > old) {
            EXPECT_NE(add.error, error_code::none) << "a fenced epoch added a partition";
            EXPECT_NE(_c.check_produce(cl.producer_id, old, {"t", 0}), error_code::none);
        }
    }

    void write_one_job() {
        if (_jobs.empty()) {
            return;
        }
        size_t i = static_cast<size_t>(pick(0, static_cast<int>(_jobs.size()) - 1));
        marker_job job = _jobs[i];
        _jobs.erase(_jobs.begin() + static_cast<std::ptrdiff_t>(i));
        auto it = _outcome.find(key_of(job));
        ASSERT_NE(it, _outcome.end());
        EXPECT_EQ(it->second, job.commit) << "a marker contradicts its transaction's outcome";
        _c.markers_written(job, _now);
    }

    instance key_of(const marker_job& job) {
        return {job.transactional_id, _began[job.transactional_id]};
    }

    void record_outcome(const marker_job& job) {
        auto [it, fresh] = _outcome.try_emplace(key_of(job), job.commit);
        EXPECT_TRUE(fresh || it->second == job.commit)
            << "transaction " << job.transactional_id << " both committed and aborted";
    }

    void restart() {
        auto restarted = _env.make();
        for (const auto& r : _log) {
            restarted.load_record(r.key, r.value);
        }
        for (const auto& [id, m] : _c.all()) {
            const txn_metadata* n = restarted.find(id);
            ASSERT_NE(n, nullptr) << id;
            EXPECT_EQ(n->producer_id, m.producer_id);
            EXPECT_EQ(n->producer_epoch, m.producer_epoch);
            EXPECT_EQ(
                n->state == txn_state::prepare_epoch_fence ? txn_state::prepare_abort : n->state,
                m.state == txn_state::prepare_epoch_fence ? txn_state::prepare_abort : m.state);
            EXPECT_EQ(n->partitions, m.partitions);
            EXPECT_EQ(n->start_ms, m.start_ms);
        }
        _c = std::move(restarted);
        // Jobs in flight are lost with the process; the prepared ones are found again.
        _jobs.clear();
        for (auto& job : _c.pending_markers()) {
            record_outcome(job);
            _jobs.push_back(job);
        }
    }

    void check_invariants() {
        for (const auto& [id, m] : _c.all()) {
            auto& last = _epochs[id];
            EXPECT_TRUE(m.producer_id != last.first || m.producer_epoch >= last.second)
                << id << ": epoch went back";
            last = {m.producer_id, m.producer_epoch};
            if (m.state == txn_state::prepare_commit || m.state == txn_state::prepare_abort) {
                auto it = _outcome.find({id, _began[id]});
                ASSERT_NE(it, _outcome.end()) << id << " prepared without an outcome";
                EXPECT_EQ(it->second, m.state == txn_state::prepare_commit);
            }
            if (m.state == txn_state::ongoing) {
                EXPECT_FALSE(m.partitions.empty());
            }
        }
    }

    void sync_records() {
        for (auto& r : _c.take_records()) {
            _log.push_back(std::move(r));
        }
    }

    std::mt19937_64 _rng;
    uint64_t _seed;
    bool _version2;
    env _env;
    coordinator _c;
    int64_t _now = 0;
    std::map<std::string, client> _clients;
    std::map<std::string, int> _began;
    std::map<instance, bool> _outcome;
    std::map<std::string, std::pair<int64_t, int16_t>> _epochs;
    std::vector<marker_job> _jobs;
    std::vector<state_record> _log;  // __transaction_state, in append order
};

TEST(txn_coordinator, seeded_event_orders_keep_every_outcome_consistent) {
    if (const char* s = std::getenv("RIACHO_TXN_SEED")) {
        simulation(std::strtoull(s, nullptr, 10)).run(400);
        return;
    }
    for (uint64_t seed = 1; seed <= 2000 && !HasFailure(); ++seed) {
        simulation(seed).run(400);
    }
}

}  // namespace
}  // namespace riacho::txn
