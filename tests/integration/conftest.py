import pytest

from agent_platform.devstack import RedisServer, Stack
from bedrock.emulator.server import start


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/integration/" in str(item.fspath):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory):
    try:
        server = RedisServer(tmp_path_factory.mktemp("redis"))
    except RuntimeError as exc:  # no redis-server: a failure that says what to install, not a traceback
        pytest.fail(f"Integration tests {exc}.", pytrace=False)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def emulator():
    handle = start("127.0.0.1", 0)
    yield handle
    handle.stop()


def make_stack(tmp_path_factory, redis_server, emulator, **settings):
    redis_server.flush()
    emulator.reset()
    stack = Stack(tmp_path_factory.mktemp("stack"), redis_server.url, emulator.url, **settings)
    stack.manage("migrate", "--verbosity", "0")
    return stack


@pytest.fixture(scope="module")
def stack(tmp_path_factory, redis_server, emulator):
    """Web and one worker, started once for the module's tests."""
    stack = make_stack(tmp_path_factory, redis_server, emulator)
    try:
        stack.start_web()
        stack.start_worker()
        yield stack
    finally:
        stack.stop()
