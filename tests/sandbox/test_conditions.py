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


SUBS = {
    "Parameters": {"Stage": {"Type": "String", "Default": "v1"}},
    "Resources": {
        "Api": {"Type": "X"},
        "Y": {"Type": "Y", "Properties": {
            "Bare": {"Fn::Sub": "/${Stage}/x"},
            "Resource": {"Fn::Sub": "arn:${AWS::Partition}:apigateway:::/restapis/${Api}/stages/${Stage}"},
            "Attribute": {"Fn::Sub": ["${Api.Arn}-${Name}", {"Name": {"Ref": "Stage"}}]},
            "Mapped": {"Fn::Sub": ["${Id}/${Stage}", {"Id": {"Ref": "Api"}}]},
            "Escaped": {"Fn::Sub": "${!Literal}-${Stage}"},
            "EscapedKept": {"Fn::Sub": "${!Literal}-${Api}"},
        }},
    },
}


def test_a_sub_of_parameters_alone_becomes_its_string():
    properties = conditions.resolve(SUBS, conditions.parameter_values(SUBS))["Resources"]["Y"]["Properties"]

    assert (properties["Bare"], properties["Escaped"]) == ("/v1/x", "${Literal}-v1")


def test_a_sub_naming_a_resource_or_pseudo_parameter_stays_a_sub_for_cloudformation():
    properties = conditions.resolve(SUBS, conditions.parameter_values(SUBS, {"Stage": "v2"}))["Resources"]["Y"][
        "Properties"]

    assert properties["Resource"] == {"Fn::Sub": "arn:${AWS::Partition}:apigateway:::/restapis/${Api}/stages/v2"}
    assert properties["Attribute"] == {"Fn::Sub": "${Api.Arn}-v2"}
    assert properties["Mapped"] == {"Fn::Sub": ["${Id}/v2", {"Id": {"Ref": "Api"}}]}
    assert properties["EscapedKept"] == {"Fn::Sub": "${!Literal}-${Api}"}


def test_the_resolvers_are_sam_clis_in_its_order_but_for_fn_sub():
    from samcli.lib.cfn_language_extensions.api import create_default_intrinsic_resolver
    from samcli.lib.cfn_language_extensions.models import TemplateProcessingContext

    sam_clis = [type(r) for r in create_default_intrinsic_resolver(TemplateProcessingContext(fragment={})).resolvers]

    assert [cls.__mro__[1] if cls is conditions._FnSubKeptForCloudFormation else cls
            for cls in conditions._RESOLVERS] == sam_clis


def test_the_processors_are_sam_clis_in_its_order():
    from samcli.lib.cfn_language_extensions.api import create_default_pipeline
    from samcli.lib.cfn_language_extensions.models import TemplateProcessingContext

    context = TemplateProcessingContext(fragment={})

    assert ([type(p) for p in conditions._pipeline(context).processors]
            == [type(p) for p in create_default_pipeline(context).processors])
