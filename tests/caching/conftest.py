import pytest


@pytest.fixture(autouse=True)
def _reporting_clock(request):
    """Reporting reads "today" from the clock: every in-process test here runs at noon UTC of a fixed day."""
    if not request.node.get_closest_marker("integration"):
        request.getfixturevalue("clock_at_noon")
