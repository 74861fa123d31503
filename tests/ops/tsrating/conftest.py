import pytest
import torch


@pytest.fixture
def one_torch_thread():
    """Tiny matrices: torch's thread pool only adds contention on a shared 2-core box."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
