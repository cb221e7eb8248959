"""sandbox/local_aws/conditions.py reads template.yaml as CloudFormation deploys it for given parameter values."""

import pytest

from sandbox.local_aws import conditions

TEMPLATE = {
    "Parameters": {"Mode": {"Type": "String", "Default": "a"}, "Keep": {"Type": "String", "Default": "false"}},
    "Conditions": {
        "IsA": {"Fn::Equals": [{"Ref": "Mode"}, "a"]},
        "Keeping": {"Fn::Equals": [{"Ref": "Keep"}, "true"]},
        "AOrKeeping": {"Fn::Or": [{"Condition": "IsA"}, {"Condition": "Keeping"}]},
        "BOrKeeping": {"Fn::Or": [{"Fn::Not": [{"Condition": "IsA"}]}, {"Condition": "Keeping"}]},
    },
    "Resources": {
        "A": {"Type": "X", "Condition": "AOrKeeping"},
        "B": {"Type": "X", "Condition": "BOrKeeping"},
        "F": {"Type": "Y", "Properties": {"Auth": {"Fn::If": ["IsA", {"Key": True}, {"Ref": "AWS::NoValue"}]},
                                          "Env": {"Fn::If": ["IsA", {"Ref": "A"}, {"Ref": "B"}]}}},
    },
}


def test_defaults_pick_the_true_branch_and_keep_conditional_resources():
    resolved = conditions.resolve(TEMPLATE, conditions.parameter_values(TEMPLATE))

    assert resolved["Resources"]["F"]["Properties"] == {"Auth": {"Key": True}, "Env": {"Ref": "A"}}
    assert set(resolved["Resources"]) == {"A", "B", "F"}


def test_a_no_value_branch_drops_the_property():
    resolved = conditions.resolve(TEMPLATE, conditions.parameter_values(TEMPLATE, {"Mode": "b"}))

    assert resolved["Resources"]["F"]["Properties"] == {"Env": {"Ref": "B"}}


@pytest.mark.parametrize(("overrides", "resources"), [({}, {"A", "F"}), ({"Mode": "b"}, {"B", "F"}),
                                                      ({"Keep": "true"}, {"A", "B", "F"})])
def test_specialising_keeps_only_the_resources_whose_condition_holds(overrides, resources):
    resolved = conditions.resolve(TEMPLATE, conditions.parameter_values(TEMPLATE, overrides), specialise=True)

    assert set(resolved["Resources"]) == resources
    assert "Conditions" not in resolved
    assert all("Condition" not in resource for resource in resolved["Resources"].values())


def test_an_unknown_parameter_is_refused():
    with pytest.raises(KeyError, match="NoSuchParameter"):
        conditions.parameter_values(TEMPLATE, {"NoSuchParameter": "x"})
