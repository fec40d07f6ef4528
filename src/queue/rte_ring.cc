// Slow path of queue/rte_ring.hh: creation and its error message.
#include "queue/rte_ring.hh"

#include <rte_errno.h>

namespace pk::queue::detail {

result<rte_ring*> create_rte_ring(const std::string& name, std::size_t capacity, ring_sync sync,
                                  int socket_id) {
    unsigned flags = RING_F_EXACT_SZ;
    switch (sync) {
    case ring_sync::sp_sc:
        flags |= RING_F_SP_ENQ | RING_F_SC_DEQ;
        break;
    case ring_sync::mp_sc:
        flags |= RING_F_SC_DEQ;
        break;
    case ring_sync::sp_mc:
        flags |= RING_F_SP_ENQ;
        break;
    case ring_sync::mp_mc:
        break;
    }
    rte_ring* r = rte_ring_create(name.c_str(), unsigned(capacity), socket_id, flags);
    if (!r)
        return make_error(errc::dpdk, "rte_ring_create(" + name + ", " + std::to_string(capacity) +
                                          "): " + rte_strerror(rte_errno) +
                                          " (is EAL initialised? is the name unique?)");
    return r;
}

} // namespace pk::queue::detail
