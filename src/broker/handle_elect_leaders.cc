// ElectLeaders (43): kafka-leader-election and the admin clients' electLeaders. The election
// is the controller's (cluster::controller::elect), recorded in the metadata log through
// whichever node received the request; v0 asks for preferred elections only.
#include "broker/handlers.h"
#include "protocol/messages/elect_leaders.h"

namespace riacho::broker {

asio::awaitable<net::reply> handle_elect_leaders(broker_context& ctx, net::request& req) {
    using protocol::msg::elect_leaders_request;
    using protocol::msg::elect_leaders_response;
    using election_type = cluster::controller::election_type;
    elect_leaders_request request;
    if (!decode_request(req, request)) {
        co_return net::reply::close();
    }
    elect_leaders_response response;
    if (request.election_type != static_cast<int8_t>(election_type::preferred) &&
        request.election_type != static_cast<int8_t>(election_type::unclean)) {
        response.error_code = protocol::code(protocol::error_code::invalid_request);
        co_return encode_response(req, response);
    }
    std::optional<std::vector<std::pair<std::string, int32_t>>> asked;
    if (request.topic_partitions) {
        asked.emplace();
        for (const auto& t : *request.topic_partitions) {
            for (int32_t p : t.partitions) {
                asked->emplace_back(t.topic, p);
            }
        }
    }
    auto results = ctx.controller.elect(static_cast<election_type>(request.election_type), asked);
    for (auto& r : results) {
        if (response.replica_election_results.empty() ||
            response.replica_election_results.back().topic != r.topic) {
            elect_leaders_response::replica_election_result t;
            t.topic = r.topic;
            response.replica_election_results.push_back(std::move(t));
        }
        elect_leaders_response::replica_election_result::partition_election_result p;
        p.partition_id = r.partition;
        p.error_code = protocol::code(r.error);
        if (r.error != protocol::error_code::none) {
            p.error_message = std::move(r.message);
        }
        response.replica_election_results.back().partition_result.push_back(std::move(p));
    }
    co_return encode_response(req, response);
}

}  // namespace riacho::broker
