#include "raft/replica.h"

#include "base/invariant.h"
#include "base/log.h"

#include <algorithm>
#include <type_traits>
#include <utility>

namespace riacho::raft {

const char* role_name(role r) {
    switch (r) {
        case role::unattached:
            return "Unattached";
        case role::follower:
            return "Follower";
        case role::candidate:
            return "Candidate";
        case role::leader:
            return "Leader";
        case role::resigned:
            return "Resigned";
    }
    return "?";
}

namespace {

// Raft's up-to-date rule: a log is at least as up to date as another when its last epoch is
// higher, or equal with an end offset at least as large.
bool at_least_as_up_to_date(offset_and_epoch a, offset_and_epoch b) {
    return a.epoch > b.epoch || (a.epoch == b.epoch && a.offset >= b.offset);
}

}  // namespace

replica::replica(
    replica_config config, raft_log& log, quorum_state_store& store, uint64_t seed, time_ms now)
    : _config(std::move(config)), _log(log), _store(store), _rng(seed), _next_request_id(_rng()) {
    INVARIANT(!_config.voters.empty(), "node {} has no voters", _config.id.value());
    _progress.resize(_config.voters.size());
    // A snapshot is committed by construction, so the high watermark restarts at its end.
    _high_watermark = _log.log_start_offset();
    if (auto stored = _store.read()) {
        _state = *stored;
    }
    if (observer()) {
        // Whoever it followed may have gone: ask the voters at once.
        _role = _state.leader_id ? role::follower : role::unattached;
        _election_deadline = now;
    } else if (_state.leader_id == _config.id) {
        // We led this epoch before the restart; leading it again could hand out offsets we
        // already gave away, so sit it out (KRaft's Resigned) and let the others elect.
        become_resigned(now);
    } else if (_state.leader_id) {
        become_follower(_state.epoch, *_state.leader_id, now);
    } else {
        _role = role::unattached;
        _election_deadline = now + random_election_timeout();
    }
    if (_config.voters.size() == 1 && !observer()) {
        // A quorum of one has nobody to wait for: lead at once (a new epoch, so a restart
        // never leads the epoch it led before), as KRaft does for a single voter.
        become_candidate(now);
    }
}

time_ms replica::follower_timeout() {
    // Followers of one leader hear from it at about the same moments; without a spread they
    // would all stand at once when it dies and split the vote.
    auto spread = static_cast<uint64_t>(_config.election_timeout.count() / 2);
    return _config.fetch_timeout + time_ms(spread == 0 ? 0 : _rng() % spread);
}

time_ms replica::random_election_timeout() {
    auto spread = static_cast<uint64_t>(_config.election_timeout.count());
    return _config.election_timeout + time_ms(spread == 0 ? 0 : _rng() % spread);
}

bool replica::is_voter(node_id id) const {
    return std::find(_config.voters.begin(), _config.voters.end(), id) != _config.voters.end();
}

output replica::take_output() { return std::exchange(_out, output{}); }

void replica::persist(quorum_state state) {
    INVARIANT(state.epoch >= _state.epoch, "epoch going back from {} to {}", _state.epoch.value(),
              state.epoch.value());
    if (state.epoch == _state.epoch) {
        // Within an epoch a vote and a leader, once set, never change.
        INVARIANT(!_state.voted_for || state.voted_for == _state.voted_for,
                  "second vote in epoch {}", state.epoch.value());
        INVARIANT(!_state.leader_id || state.leader_id == _state.leader_id,
                  "second leader in epoch {}", state.epoch.value());
    }
    if (state != _state) {
        _store.write(state);
        _state = state;
    }
}

// ---------------------------------------------------------------- transitions

void replica::become_unattached(leader_epoch epoch, time_ms now) {
    INVARIANT(epoch > _state.epoch, "unattached in epoch {} not above {}", epoch.value(),
              _state.epoch.value());
    persist(quorum_state{epoch, std::nullopt, std::nullopt});
    _role = role::unattached;
    // An observer has no election to wait for: it looks for the epoch's leader at once.
    _election_deadline = observer() ? now : now + random_election_timeout();
}

void replica::become_follower(leader_epoch epoch, node_id leader, time_ms now) {
    auto vote = epoch == _state.epoch ? _state.voted_for : std::nullopt;
    persist(quorum_state{epoch, vote, leader});
    _role = role::follower;
    _leader_resigning = false;
    _fetch_in_flight.reset();
    _snapshot_to_fetch.reset();
    _election_deadline = now + follower_timeout();
    _next_fetch_at = now;
    maybe_send_fetch(now);
}

void replica::become_candidate(time_ms now) {
    persist(quorum_state{_state.epoch + 1, _config.id, std::nullopt});
    _role = role::candidate;
    _votes_granted = {_config.id};
    _votes_answered = {_config.id};
    _election_deadline = now + random_election_timeout();
    LOG_DEBUG("raft", "node {} stands for election in epoch {}", _config.id.value(),
              _state.epoch.value());
    if (_votes_granted.size() >= majority()) {
        become_leader(now);
        return;
    }
    send_vote_requests(now);
}

void replica::become_leader(time_ms now) {
    persist(quorum_state{_state.epoch, _state.voted_for, _config.id});
    _role = role::leader;
    for (auto& p : _progress) {
        // Every voter gets a full check-quorum period before it counts as gone.
        p = voter_progress{kafka_offset(-1), now, false};
    }
    _observers.clear();
    // The leader-change entry gives the leader an entry of its own epoch to commit, which
    // commits everything before it (Raft commits earlier epochs' entries only this way).
    _epoch_start_offset = _log.end_offset_and_epoch().offset;
    log_entry change{_state.epoch, entry_kind::leader_change, {}};
    _log.append(std::span(&change, 1));
    _unflushed = true;
    flush_leader_log();
    _check_quorum_at = now + _config.fetch_timeout + _config.fetch_timeout / 2;
    LOG_DEBUG("raft", "node {} leads epoch {} from offset {}", _config.id.value(),
              _state.epoch.value(), _epoch_start_offset.value());
    send_begin_epochs(now);
}

void replica::on_election_timeout(time_ms now) {
    if (!observer()) {
        become_candidate(now);
        return;
    }
    send_discovery_fetch(now);
    _election_deadline = now + _config.request_timeout;
}

void replica::send_discovery_fetch(time_ms now) {
    (void)now;
    // A fetch in our epoch: the leader answers it as any fetch; another voter refuses it
    // naming the epoch and leader it knows, which on_fetch_response follows.
    auto voter = _config.voters[_next_voter_to_ask++ % _config.voters.size()];
    auto end = _log.end_offset_and_epoch();
    send_request(voter, fetch_request{_config.id, _state.epoch, end.offset, end.epoch});
}

void replica::become_resigned(time_ms now) {
    _role = role::resigned;
    _election_deadline = now + random_election_timeout();
}

void replica::observe_epoch(leader_epoch epoch, std::optional<node_id> leader, time_ms now) {
    INVARIANT(epoch > _state.epoch, "observe_epoch({}) not above {}", epoch.value(),
              _state.epoch.value());
    if (leader && *leader != _config.id && is_voter(*leader)) {
        become_follower(epoch, *leader, now);
    } else {
        become_unattached(epoch, now);
    }
}

// ---------------------------------------------------------------- driving

void replica::tick(time_ms now) {
    switch (_role) {
        case role::leader:
            flush_leader_log();
            if (now >= _begin_resend_at) {
                send_begin_epochs(now);
            }
            check_quorum(now);
            break;
        case role::candidate:
            if (now >= _election_deadline) {
                become_candidate(now);
            } else if (now >= _vote_resend_at) {
                send_vote_requests(now);
            }
            break;
        case role::follower:
            if (now >= _election_deadline) {
                on_election_timeout(now);
            }
            maybe_send_fetch(now);
            break;
        case role::unattached:
        case role::resigned:
            if (now >= _election_deadline) {
                on_election_timeout(now);
            }
            break;
    }
}

void replica::receive(const message& msg, time_ms now) {
    if (msg.to != _config.id) {
        return;
    }
    std::visit(
        [&](const auto& body) {
            using T = std::decay_t<decltype(body)>;
            if constexpr (std::is_same_v<T, vote_request>) {
                on_vote_request(msg, body, now);
            } else if constexpr (std::is_same_v<T, vote_response>) {
                on_vote_response(msg, body, now);
            } else if constexpr (std::is_same_v<T, begin_quorum_epoch_request>) {
                on_begin_request(msg, body, now);
            } else if constexpr (std::is_same_v<T, begin_quorum_epoch_response>) {
                on_begin_response(msg, body, now);
            } else if constexpr (std::is_same_v<T, end_quorum_epoch_request>) {
                on_end_request(msg, body, now);
            } else if constexpr (std::is_same_v<T, end_quorum_epoch_response>) {
                on_end_response(msg, body, now);
            } else if constexpr (std::is_same_v<T, fetch_request>) {
                on_fetch_request(msg, body, now);
            } else if constexpr (std::is_same_v<T, fetch_response>) {
                on_fetch_response(msg, body, now);
            } else if constexpr (std::is_same_v<T, fetch_snapshot_request>) {
                on_snapshot_request(msg, body, now);
            } else {
                static_assert(std::is_same_v<T, fetch_snapshot_response>);
                on_snapshot_response(msg, body, now);
            }
        },
        msg.body);
}

result<kafka_offset, append_errc> replica::append(const std::vector<std::string>& records,
                                                  time_ms now) {
    (void)now;
    if (_role != role::leader) {
        return unexpected{append_errc::not_leader};
    }
    auto base = _log.end_offset_and_epoch().offset;
    std::vector<log_entry> entries;
    entries.reserve(records.size());
    for (const auto& r : records) {
        entries.push_back(log_entry{_state.epoch, entry_kind::data, r});
    }
    _log.append(entries);
    // Flushed on the next tick, so appends between ticks share one flush; the leader counts
    // only flushed entries towards the high watermark.
    _unflushed = true;
    return base;
}

void replica::resign(time_ms now) {
    if (_role != role::leader) {
        return;
    }
    flush_leader_log();
    std::vector<std::pair<kafka_offset, node_id>> ranked;
    for (size_t i = 0; i < _config.voters.size(); ++i) {
        if (_config.voters[i] != _config.id) {
            ranked.emplace_back(_progress[i].end_offset, _config.voters[i]);
        }
    }
    std::sort(ranked.begin(), ranked.end(), std::greater<>());
    end_quorum_epoch_request req{_config.id, _state.epoch, {}};
    for (auto& [offset, id] : ranked) {
        req.preferred_successors.push_back(id);
    }
    for (auto& [offset, id] : ranked) {
        send_request(id, req);
    }
    become_resigned(now);
}

void replica::take_snapshot(snapshot_id id, std::string bytes) {
    INVARIANT(id.offset <= _high_watermark, "snapshot at {} above the high watermark {}",
              id.offset.value(), _high_watermark.value());
    INVARIANT(id.offset > _log.log_start_offset(), "snapshot at {} not past the log start {}",
              id.offset.value(), _log.log_start_offset().value());
    auto last = _log.read(id.offset - 1, 1);
    INVARIANT(last.size() == 1 && last[0].epoch == id.epoch, "snapshot epoch {} is not the entry's",
              id.epoch.value());
    _log.write_snapshot_and_trim(id, std::move(bytes));
}

time_ms replica::next_deadline() const {
    switch (_role) {
        case role::leader:
            return _unflushed ? time_ms(0) : std::min(_begin_resend_at, _check_quorum_at);
        case role::candidate:
            return std::min(_election_deadline, _vote_resend_at);
        case role::follower:
            return std::min(_election_deadline, _fetch_in_flight
                                                    ? _fetch_sent_at + _config.request_timeout
                                                    : _next_fetch_at);
        case role::unattached:
        case role::resigned:
            return _election_deadline;
    }
    return time_ms(0);
}

quorum_description replica::describe_quorum() const {
    quorum_description d;
    d.leader_id = _state.leader_id.value_or(no_node);
    d.epoch = _state.epoch;
    d.high_watermark = _high_watermark;
    for (size_t i = 0; i < _config.voters.size(); ++i) {
        voter_description v{_config.voters[i], kafka_offset(-1), std::nullopt};
        if (_role == role::leader) {
            v.log_end_offset =
                _config.voters[i] == _config.id ? _flushed_end_offset : _progress[i].end_offset;
            v.last_fetch = _progress[i].last_fetch;
        }
        d.voters.push_back(v);
    }
    if (_role == role::leader) {
        for (const auto& [id, seen] : _observers) {
            d.observers.push_back(voter_description{id, seen.end_offset, seen.last_fetch});
        }
    }
    return d;
}

// ---------------------------------------------------------------- sending

void replica::send_request(node_id to, message_body body) {
    _out.messages.push_back(message{_config.id, to, _next_request_id++, std::move(body)});
}

void replica::respond(const message& request, message_body body) {
    _out.messages.push_back(message{_config.id, request.from, request.request_id, std::move(body)});
}

void replica::send_vote_requests(time_ms now) {
    vote_request req{_state.epoch, _config.id, _log.end_offset_and_epoch()};
    for (auto id : _config.voters) {
        if (!_votes_answered.contains(id)) {
            send_request(id, req);
        }
    }
    _vote_resend_at = now + _config.request_timeout;
}

void replica::send_begin_epochs(time_ms now) {
    for (size_t i = 0; i < _config.voters.size(); ++i) {
        if (_config.voters[i] != _config.id && !_progress[i].begin_acknowledged) {
            send_request(_config.voters[i], begin_quorum_epoch_request{_config.id, _state.epoch});
        }
    }
    _begin_resend_at = now + _config.request_timeout;
}

void replica::maybe_send_fetch(time_ms now) {
    if (_role != role::follower || now < _next_fetch_at) {
        return;
    }
    if (_fetch_in_flight && now < _fetch_sent_at + _config.request_timeout) {
        return;
    }
    _fetch_in_flight = _next_request_id;
    _fetch_sent_at = now;
    if (_snapshot_to_fetch) {
        send_request(*_state.leader_id,
                     fetch_snapshot_request{_config.id, _state.epoch, *_snapshot_to_fetch});
        return;
    }
    auto end = _log.end_offset_and_epoch();
    send_request(*_state.leader_id, fetch_request{_config.id, _state.epoch, end.offset, end.epoch});
}

// ---------------------------------------------------------------- Vote

void replica::on_vote_request(const message& msg, const vote_request& req, time_ms now) {
    auto reply = [&](bool granted) {
        respond(msg, vote_response{raft_error::none, _state.leader_id.value_or(no_node),
                                   _state.epoch, granted});
    };
    if (!is_voter(req.candidate_id) || req.candidate_id != msg.from) {
        respond(msg, vote_response{raft_error::inconsistent_voter_set, no_node, _state.epoch});
        return;
    }
    if (req.candidate_epoch < _state.epoch) {
        reply(false);
        return;
    }
    if (req.candidate_epoch > _state.epoch) {
        observe_epoch(req.candidate_epoch, std::nullopt, now);
    }
    // One vote per epoch, and only for a candidate whose log holds everything ours does:
    // every committed entry is on a majority, so a leader elected this way has them all.
    bool granted = _role == role::unattached &&
                   (!_state.voted_for || *_state.voted_for == req.candidate_id) &&
                   at_least_as_up_to_date(req.last_log, _log.end_offset_and_epoch());
    if (granted && !_state.voted_for) {
        persist(quorum_state{_state.epoch, req.candidate_id, std::nullopt});
        _election_deadline = now + random_election_timeout();
    }
    reply(granted);
}

void replica::on_vote_response(const message& msg, const vote_response& resp, time_ms now) {
    if (resp.leader_epoch > _state.epoch) {
        observe_epoch(resp.leader_epoch,
                      resp.leader_id == no_node ? std::nullopt : std::optional(resp.leader_id),
                      now);
        return;
    }
    if (_role != role::candidate || resp.leader_epoch != _state.epoch ||
        resp.error != raft_error::none) {
        return;
    }
    _votes_answered.insert(msg.from);
    if (resp.vote_granted) {
        _votes_granted.insert(msg.from);
        if (_votes_granted.size() >= majority()) {
            become_leader(now);
        }
    }
}

// ---------------------------------------------------------------- BeginQuorumEpoch

void replica::on_begin_request(const message& msg,
                               const begin_quorum_epoch_request& req,
                               time_ms now) {
    if (req.leader_epoch < _state.epoch || !is_voter(req.leader_id)) {
        respond(msg, begin_quorum_epoch_response{raft_error::fenced_leader_epoch,
                                                 _state.leader_id.value_or(no_node), _state.epoch});
        return;
    }
    if (req.leader_epoch > _state.epoch) {
        become_follower(req.leader_epoch, req.leader_id, now);
    } else if (_role == role::leader || _role == role::resigned) {
        // Two leaders in one epoch: the votes were broken. Refuse rather than follow.
        LOG_ERROR("raft", "node {} leads epoch {} but {} claims it too", _config.id.value(),
                  _state.epoch.value(), req.leader_id.value());
        return;
    } else if (_role != role::follower) {
        become_follower(req.leader_epoch, req.leader_id, now);
    }
    respond(msg, begin_quorum_epoch_response{raft_error::none, req.leader_id, _state.epoch});
}

void replica::on_begin_response(const message& msg,
                                const begin_quorum_epoch_response& resp,
                                time_ms now) {
    if (resp.leader_epoch > _state.epoch) {
        observe_epoch(resp.leader_epoch,
                      resp.leader_id == no_node ? std::nullopt : std::optional(resp.leader_id),
                      now);
        return;
    }
    if (_role != role::leader || resp.leader_epoch != _state.epoch ||
        resp.error != raft_error::none) {
        return;
    }
    for (size_t i = 0; i < _config.voters.size(); ++i) {
        if (_config.voters[i] == msg.from) {
            _progress[i].begin_acknowledged = true;
        }
    }
}

// ---------------------------------------------------------------- EndQuorumEpoch

void replica::on_end_request(const message& msg, const end_quorum_epoch_request& req, time_ms now) {
    if (req.leader_epoch < _state.epoch) {
        respond(msg, end_quorum_epoch_response{raft_error::fenced_leader_epoch,
                                               _state.leader_id.value_or(no_node), _state.epoch});
        return;
    }
    if (req.leader_epoch > _state.epoch) {
        observe_epoch(req.leader_epoch, req.leader_id, now);
    }
    if ((_role == role::follower && _state.leader_id == req.leader_id) ||
        _role == role::unattached) {
        // The most caught-up successor stands at once; the others wait a little longer each,
        // so the likely winner is not split by rival candidacies.
        auto pos = std::find(req.preferred_successors.begin(), req.preferred_successors.end(),
                             _config.id) -
                   req.preferred_successors.begin();
        auto backoff =
            pos == 0 ? time_ms(0)
                     : std::min(_config.election_backoff_max, _config.election_timeout / 4 * pos) +
                           time_ms(_rng() % 16);
        _election_deadline = std::min(_election_deadline, now + backoff);
        _leader_resigning = true;
    }
    respond(msg, end_quorum_epoch_response{raft_error::none, req.leader_id, _state.epoch});
}

void replica::on_end_response(const message&, const end_quorum_epoch_response& resp, time_ms now) {
    if (resp.leader_epoch > _state.epoch) {
        observe_epoch(resp.leader_epoch,
                      resp.leader_id == no_node ? std::nullopt : std::optional(resp.leader_id),
                      now);
    }
}

// ---------------------------------------------------------------- Fetch (leader side)

void replica::on_fetch_request(const message& msg, const fetch_request& req, time_ms now) {
    auto fail = [&](raft_error e) {
        fetch_response r;
        r.error = e;
        r.leader_id = _state.leader_id.value_or(no_node);
        r.leader_epoch = _state.epoch;
        respond(msg, std::move(r));
    };
    if (req.replica_id != msg.from) {
        fail(raft_error::inconsistent_voter_set);
        return;
    }
    if (req.current_leader_epoch < _state.epoch) {
        fail(raft_error::fenced_leader_epoch);
        return;
    }
    if (req.current_leader_epoch > _state.epoch) {
        fail(raft_error::unknown_leader_epoch);
        observe_epoch(req.current_leader_epoch, std::nullopt, now);
        return;
    }
    if (_role != role::leader) {
        fail(raft_error::not_leader_or_follower);
        return;
    }
    fetch_response r;
    r.leader_id = _config.id;
    r.leader_epoch = _state.epoch;
    r.log_start_offset = _log.log_start_offset();
    // KRaft's validateOffsetAndEpoch: the follower's log matches ours up to fetch_offset iff
    // our log holds last_fetched_epoch and that epoch ends at or after fetch_offset.
    auto start = _log.log_start_offset();
    auto snapshot = _log.latest_snapshot();
    leader_epoch start_epoch = snapshot ? snapshot->epoch : no_epoch;
    bool needs_snapshot = false;
    if (req.fetch_offset < start) {
        needs_snapshot = true;
    } else if (req.fetch_offset == start) {
        needs_snapshot = start > kafka_offset(0) && req.last_fetched_epoch != start_epoch;
        if (start == kafka_offset(0) && req.last_fetched_epoch != no_epoch) {
            r.diverging_epoch = offset_and_epoch{kafka_offset(0), no_epoch};
        }
    } else {
        auto found = _log.end_offset_for_epoch(req.last_fetched_epoch);
        if (!found) {
            if (start > kafka_offset(0)) {
                needs_snapshot = true;
            } else {
                r.diverging_epoch = offset_and_epoch{kafka_offset(0), no_epoch};
            }
        } else if (found->epoch != req.last_fetched_epoch || req.fetch_offset > found->offset) {
            r.diverging_epoch = *found;
        }
    }
    if (needs_snapshot) {
        INVARIANT(snapshot.has_value(), "log starts at {} without a snapshot", start.value());
        r.snapshot_id = snapshot;
    }
    if (!is_voter(req.replica_id)) {
        // An observer: its progress is reported, never counted.
        auto& seen = _observers[req.replica_id];
        seen.last_fetch = now;
        if (!needs_snapshot && !r.diverging_epoch) {
            seen.end_offset = req.fetch_offset;
        }
    }
    if (!needs_snapshot && !r.diverging_epoch) {
        for (size_t i = 0; i < _config.voters.size(); ++i) {
            if (_config.voters[i] == req.replica_id) {
                // A valid fetch acknowledges everything below its offset (flushed there).
                _progress[i].end_offset = req.fetch_offset;
                _progress[i].last_fetch = now;
                _progress[i].begin_acknowledged = true;
            }
        }
        maybe_advance_high_watermark();
        r.records_base_offset = req.fetch_offset;
        r.records = _log.read(req.fetch_offset, _config.fetch_max_entries);
    } else {
        for (size_t i = 0; i < _config.voters.size(); ++i) {
            if (_config.voters[i] == req.replica_id) {
                _progress[i].last_fetch = now;
                _progress[i].begin_acknowledged = true;
            }
        }
    }
    r.high_watermark = _high_watermark;
    respond(msg, std::move(r));
}

void replica::flush_leader_log() {
    if (!_unflushed) {
        return;
    }
    _log.flush();
    _unflushed = false;
    _flushed_end_offset = _log.end_offset_and_epoch().offset;
    maybe_advance_high_watermark();
}

void replica::maybe_advance_high_watermark() {
    if (_role != role::leader) {
        return;
    }
    std::vector<kafka_offset> ends;
    for (size_t i = 0; i < _config.voters.size(); ++i) {
        ends.push_back(_config.voters[i] == _config.id ? _flushed_end_offset
                                                       : _progress[i].end_offset);
    }
    std::sort(ends.begin(), ends.end(), std::greater<>());
    auto majority_end = ends[majority() - 1];
    // Only an offset past the leader's first entry of its epoch may commit: counting replicas
    // of an earlier epoch's entry is not enough (Raft, figure 8), it could still be replaced.
    if (majority_end > _epoch_start_offset) {
        raise_high_watermark(majority_end);
    }
}

void replica::raise_high_watermark(kafka_offset hw) {
    if (hw <= _high_watermark) {
        return;
    }
    INVARIANT(hw <= _log.end_offset_and_epoch().offset, "high watermark {} past the log end {}",
              hw.value(), _log.end_offset_and_epoch().offset.value());
    _high_watermark = hw;
    _out.committed_up_to = hw;
}

void replica::check_quorum(time_ms now) {
    if (_config.voters.size() == 1) {
        // Alone, the leader is its own quorum: nothing to check, and no deadline to wake for.
        _check_quorum_at = time_ms::max();
        return;
    }
    if (now < _check_quorum_at) {
        return;
    }
    // A leader cut off from a majority resigns, so that clients stop waiting on it and the
    // majority side is not held back by it later (KRaft's check-quorum).
    auto window = _config.fetch_timeout + _config.fetch_timeout / 2;
    size_t in_touch = 1;
    for (size_t i = 0; i < _config.voters.size(); ++i) {
        if (_config.voters[i] != _config.id && _progress[i].last_fetch &&
            *_progress[i].last_fetch + window >= now) {
            ++in_touch;
        }
    }
    if (in_touch < majority()) {
        LOG_DEBUG("raft", "node {} resigns epoch {}: {} voters in touch", _config.id.value(),
                  _state.epoch.value(), in_touch);
        resign(now);
        return;
    }
    _check_quorum_at = now + _config.fetch_timeout / 2;
}

// ---------------------------------------------------------------- Fetch (follower side)

void replica::on_fetch_response(const message& msg, const fetch_response& resp, time_ms now) {
    if (resp.leader_epoch > _state.epoch) {
        observe_epoch(resp.leader_epoch,
                      resp.leader_id == no_node ? std::nullopt : std::optional(resp.leader_id),
                      now);
        return;
    }
    if (observer() && resp.leader_epoch == _state.epoch && resp.leader_id != no_node &&
        !_state.leader_id) {
        become_follower(_state.epoch, resp.leader_id, now);  // found it (a restart forgot it)
        return;
    }
    if (_role != role::follower || _fetch_in_flight != msg.request_id ||
        resp.leader_epoch != _state.epoch || msg.from != _state.leader_id) {
        return;  // late, duplicated or from an older epoch
    }
    _fetch_in_flight.reset();
    if (resp.error != raft_error::none) {
        _next_fetch_at = now + _config.fetch_idle_backoff;
        return;
    }
    if (!_leader_resigning) {
        _election_deadline = now + follower_timeout();
    }
    _next_fetch_at = now;
    if (resp.diverging_epoch) {
        truncate_to_diverging(*resp.diverging_epoch);
    } else if (resp.snapshot_id) {
        _snapshot_to_fetch = resp.snapshot_id;
    } else {
        auto end = _log.end_offset_and_epoch();
        if (resp.records_base_offset != end.offset) {
            return;  // cannot happen with one fetch in flight; refetch rather than guess
        }
        if (!resp.records.empty()) {
            for (const auto& e : resp.records) {
                INVARIANT(e.epoch <= _state.epoch, "entry of epoch {} from leader of {}",
                          e.epoch.value(), _state.epoch.value());
            }
            _log.append(resp.records);
            // Flushed before the next fetch, whose offset tells the leader we have them.
            _log.flush();
        } else {
            _next_fetch_at = now + _config.fetch_idle_backoff;
        }
        if (resp.high_watermark) {
            // The fetch validated our log up to the fetch offset and the records extend the
            // leader's log, so everything below min(hw, our end) is the committed prefix.
            raise_high_watermark(
                std::min(*resp.high_watermark, _log.end_offset_and_epoch().offset));
        }
    }
    maybe_send_fetch(now);
}

void replica::truncate_to_diverging(offset_and_epoch diverging) {
    // KRaft's truncateToEndOffset: cut at the end of the diverging epoch in our own log,
    // never past where the leader says it ends.
    auto local = _log.end_offset_for_epoch(diverging.epoch);
    auto end = _log.end_offset_and_epoch().offset;
    kafka_offset target = std::min(diverging.offset, end);
    if (diverging.epoch != no_epoch && local) {
        target = std::min(local->offset, diverging.offset);
    } else if (diverging.epoch != no_epoch) {
        target = _log.log_start_offset();
    }
    target = std::max(target, _log.log_start_offset());
    INVARIANT(target >= _high_watermark, "truncation to {} below the high watermark {}",
              target.value(), _high_watermark.value());
    if (target < end) {
        _log.truncate_to(target);
        _log.flush();
    }
}

// ---------------------------------------------------------------- FetchSnapshot

void replica::on_snapshot_request(const message& msg,
                                  const fetch_snapshot_request& req,
                                  time_ms now) {
    (void)now;
    fetch_snapshot_response r;
    r.leader_id = _state.leader_id.value_or(no_node);
    r.leader_epoch = _state.epoch;
    r.snapshot_id = req.snapshot_id;
    if (req.current_leader_epoch != _state.epoch || _role != role::leader) {
        r.error = req.current_leader_epoch < _state.epoch ? raft_error::fenced_leader_epoch
                                                          : raft_error::not_leader_or_follower;
    } else if (auto bytes = _log.read_snapshot(req.snapshot_id)) {
        r.bytes = std::move(*bytes);
    } else {
        r.error = raft_error::snapshot_not_found;
    }
    respond(msg, std::move(r));
}

void replica::on_snapshot_response(const message& msg,
                                   const fetch_snapshot_response& resp,
                                   time_ms now) {
    if (resp.leader_epoch > _state.epoch) {
        observe_epoch(resp.leader_epoch,
                      resp.leader_id == no_node ? std::nullopt : std::optional(resp.leader_id),
                      now);
        return;
    }
    if (_role != role::follower || _fetch_in_flight != msg.request_id ||
        resp.leader_epoch != _state.epoch || !_snapshot_to_fetch ||
        resp.snapshot_id != *_snapshot_to_fetch) {
        return;
    }
    _fetch_in_flight.reset();
    _snapshot_to_fetch.reset();
    _next_fetch_at = now;
    if (resp.error == raft_error::none) {
        if (!_leader_resigning) {
            _election_deadline = now + follower_timeout();
        }
        INVARIANT(resp.snapshot_id.offset >= _high_watermark,
                  "snapshot at {} below the high watermark {}", resp.snapshot_id.offset.value(),
                  _high_watermark.value());
        _log.install_snapshot(resp.snapshot_id, resp.bytes);
        _out.snapshot_installed = resp.snapshot_id;
        raise_high_watermark(resp.snapshot_id.offset);
    }
    maybe_send_fetch(now);
}

}  // namespace riacho::raft
