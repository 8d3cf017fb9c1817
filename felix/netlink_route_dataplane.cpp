#include "felix/route_table.h"

#include <sys/socket.h>

namespace caracal::felix {

namespace {

class NetlinkRouteDataplane : public RouteDataplane {
public:
  explicit NetlinkRouteDataplane(netlink::Socket& sock) : sock_(sock) {}

  Result<std::vector<netlink::Route>> dumpOurRoutes() override {
    ASSIGN_OR_RETURN(std::vector<netlink::Route> v4,
                     sock_.routes(AF_INET, 254, netlink::kRouteProtocol));
    ASSIGN_OR_RETURN(std::vector<netlink::Route> v6,
                     sock_.routes(AF_INET6, 254, netlink::kRouteProtocol));
    v4.insert(v4.end(), std::make_move_iterator(v6.begin()), std::make_move_iterator(v6.end()));
    return v4;
  }

  std::vector<Status> send(const std::vector<RouteOp>& ops) override {
    netlink::Batch batch(sock_);
    for (const RouteOp& op : ops) {
      if (op.kind == RouteOp::Kind::Replace) {
        batch.replaceRoute(op.route);
      } else {
        batch.deleteRoute(op.route);
      }
    }
    return batch.send();
  }

private:
  netlink::Socket& sock_;
};

} // namespace

std::unique_ptr<RouteDataplane> makeNetlinkRouteDataplane(netlink::Socket& sock) {
  return std::make_unique<NetlinkRouteDataplane>(sock);
}

} // namespace caracal::felix
