"""torch.distributed helpers of the meter (a no-op when the default process group is absent).

* :func:`is_host_leader`: the lowest rank on each host (hostnames gathered once at start) reads
  the host-wide counters (RAPL); the other ranks of that host report 0 J for them.
* :func:`gather_to_rank0`: every rank's record reaches rank 0, which sums them.
"""
import socket
from typing import Any, List, Optional, Tuple


def dist_state() -> Tuple[bool, int, int]:
    """``(initialized, rank, world_size)``."""
    try:
        import torch.distributed as dist
        if dist.is_available() and dist.is_initialized():
            return True, dist.get_rank(), dist.get_world_size()
    except ImportError:
        pass
    return False, 0, 1


def all_gather(obj: Any) -> List[Any]:
    initialized, _, _ = dist_state()
    if not initialized:
        return [obj]
    import torch.distributed as dist
    out = [None] * dist.get_world_size()
    dist.all_gather_object(out, obj)
    return out


def is_host_leader() -> bool:
    """True on the lowest rank of this host (collective when distributed: call on every rank)."""
    initialized, rank, _ = dist_state()
    if not initialized:
        return True
    hosts = all_gather(socket.gethostname())
    return rank == min(r for r, h in enumerate(hosts) if h == hosts[rank])


def gather_to_rank0(obj: Any) -> Optional[List[Any]]:
    """All ranks' objects on rank 0 (ordered by rank), ``None`` elsewhere (collective)."""
    initialized, rank, _ = dist_state()
    gathered = all_gather(obj)
    return gathered if rank == 0 else None
