"""The installer's decision on machines shaped unlike this one (no apt is run)."""

from sandbox.system_deps import Machine, plan

NODESOURCE = "20.20.2-1nodesource1+repack1"
DEBIAN_NODE = "18.19.0+dfsg-6~deb12u2"


def test_a_machine_with_everything_installs_nothing():
    decided = plan(Machine(frozenset({"java", "npm", "node", "chromium"}), NODESOURCE))
    assert decided.install == [] and decided.by_hand == []


def test_a_bare_debian_machine_gets_each_package_on_its_own():
    decided = plan(Machine(frozenset()))
    assert decided.install == ["openjdk-17-jre-headless", "npm", "chromium"]


def test_nodesource_node_without_chromium_asks_apt_for_chromium_only():
    decided = plan(Machine(frozenset({"java", "npm", "node"}), NODESOURCE))
    assert decided.install == ["chromium"]


def test_debian_npm_is_never_asked_for_beside_nodesource_node():
    decided = plan(Machine(frozenset({"node"}), NODESOURCE))
    assert "npm" not in decided.install
    assert decided.install == ["openjdk-17-jre-headless", "chromium"]
    assert decided.by_hand and decided.by_hand[0].startswith("npm:")


def test_node_from_nvm_without_npm_is_left_to_the_user():
    decided = plan(Machine(frozenset({"node", "java", "chromium"}), None))
    assert decided.install == []
    assert decided.by_hand[0].startswith("npm:")


def test_debian_node_without_npm_gets_debian_npm():
    decided = plan(Machine(frozenset({"node", "java", "chromium"}), DEBIAN_NODE))
    assert decided.install == ["npm"]


def test_java_missing_alone_installs_java_alone():
    decided = plan(Machine(frozenset({"npm", "node", "chromium"}), NODESOURCE))
    assert decided.install == ["openjdk-17-jre-headless"]


def test_without_apt_everything_missing_is_said_by_hand():
    decided = plan(Machine(frozenset({"npm", "node"}), NODESOURCE, apt=False))
    assert decided.install == []
    assert [line.split(":")[0] for line in decided.by_hand] == ["java", "chromium"]
