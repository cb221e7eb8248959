"""template.yaml: cfn-lint clean before and after the SAM transform, least privilege, and the controls from
security-requirements.md §5 (requirements 35-39). Names of functions, routes, the table and the secret are
read from the template, never restated here."""

from __future__ import annotations

import contextlib
import copy
import fnmatch
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from silentcheck.observability import DIMENSIONS, SERVICE, Metric
from tests.template_tools import LintFinding, cfn_lint_all, load_sam_template, transform_offline, write_json

TEMPLATE_PATH = Path(__file__).resolve().parents[2] / "template.yaml"

# Findings cfn-lint may report without failing the build, each with why it is accepted. Keyed by rule id;
# the value is the reason. Keep these as narrow as possible.
ACCEPTED_TEMPLATE_FINDINGS: dict[str, str] = {}
ACCEPTED_TRANSFORMED_FINDINGS: dict[str, str] = {
    # SAM writes the Lambda permissions' SourceArn and the Swagger integration URIs itself, with the partition
    # of the region it runs in ("arn:aws:" for the offline transform). On deploy, CloudFormation's own
    # transform does the same for the stack's region; nothing in template.yaml hardcodes a partition.
    "I3042": "SAM-generated ARNs carry the transform region's partition",
}

# Reads and writes of items named by their key (BatchGetItem reads the providers' breakers in one call).
ITEM_LEVEL_DYNAMODB_ACTIONS = frozenset(
    {"dynamodb:getitem", "dynamodb:batchgetitem", "dynamodb:putitem", "dynamodb:updateitem",
     "dynamodb:deleteitem", "dynamodb:query"}  # lower case: IAM ignores case
)
BULK_DYNAMODB_ACTIONS = ("dynamodb:Scan", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem")
SECRET_READ_ACTIONS = frozenset({"secretsmanager:getsecretvalue"})
# SAM attaches these AWS-managed policies itself: logs always, X-Ray only with `Tracing: Active`.
# Neither grants anything on DynamoDB or Secrets Manager.
ACCEPTED_MANAGED_POLICIES = ("service-role/AWSLambdaBasicExecutionRole", "AWSXrayWriteOnlyAccess")
CREDENTIAL_NAME = re.compile(r"secret|passw|token|pepper|private|api_?key|credential", re.IGNORECASE)
KEY_LIKE_RUN = re.compile(r"[A-Za-z0-9+/=_\-]{21,}")
LITERAL_LIMIT = 20


# --------------------------------------------------------------------------------------------------------
# Fixtures: the SAM template as written, the CloudFormation template SAM makes of it, and their lint results.


@pytest.fixture(scope="module")
def source() -> dict[str, Any]:
    return load_sam_template(TEMPLATE_PATH)


@pytest.fixture(scope="module")
def transformed(source: dict[str, Any]) -> dict[str, Any]:
    return transform_offline(source)


@pytest.fixture(scope="module")
def resources(transformed: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = transformed["Resources"]
    return found


@pytest.fixture(scope="module")
def functions(resources: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Properties of every deployed Lambda function (Globals merged in by the transform), by logical id."""
    found = {
        name: res.get("Properties") or {} for name, res in resources.items() if res["Type"] == "AWS::Lambda::Function"
    }
    assert found, "the transformed template has no Lambda functions"
    return found


@pytest.fixture(scope="module")
def source_functions(source: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        name: res.get("Properties") or {}
        for name, res in source["Resources"].items()
        if res["Type"] == "AWS::Serverless::Function"
    }


def _table_named_by(functions: dict[str, dict[str, Any]], variable: str) -> str:
    """The table every function that has `variable` in its environment finds through it (`!Ref Table`)."""
    named = {_ref_target(_environment(f)[variable]) for f in functions.values() if variable in _environment(f)}
    assert len(named) == 1 and None not in named, f"{variable} names {named}"
    return str(named.pop())


@pytest.fixture(scope="module")
def table_id(functions: dict[str, dict[str, Any]]) -> str:
    """The checks table."""
    return _table_named_by(functions, "TABLE_NAME")


@pytest.fixture(scope="module")
def idempotency_table_id(functions: dict[str, dict[str, Any]]) -> str:
    """The Idempotency-Key records of POST /checks: disposable, so items may be deleted (a failed start
    releases its key)."""
    return _table_named_by(functions, "IDEMPOTENCY_TABLE_NAME")


@pytest.fixture(scope="module")
def table_ids(resources: dict[str, Any], table_id: str, idempotency_table_id: str) -> list[str]:
    every = sorted(name for name, res in resources.items() if res["Type"] == "AWS::DynamoDB::Table")
    assert every == sorted({table_id, idempotency_table_id}), f"a table no function names: {every}"
    return every


@pytest.fixture(scope="module")
def table(resources: dict[str, Any], table_id: str) -> dict[str, Any]:
    resource: dict[str, Any] = resources[table_id]
    return resource


@pytest.fixture(scope="module")
def secret_ids(resources: dict[str, Any]) -> set[str]:
    found = {name for name, res in resources.items() if res["Type"] == "AWS::SecretsManager::Secret"}
    assert found, "the template has no secret"
    return found


@pytest.fixture(scope="module")
def callback_function_id(function_url_targets: list[str]) -> str:
    """The public function: the one behind the function URL."""
    (target,) = function_url_targets
    return target


@pytest.fixture(scope="module")
def callback_secret_id(functions: dict[str, dict[str, Any]], callback_function_id: str) -> str:
    """The narrower secret: the one the public function is told to read."""
    target = _ref_target(_environment(functions[callback_function_id]).get("CALLBACK_SECRET_ID"))
    assert target is not None, "the public function has no CALLBACK_SECRET_ID naming a secret of this template"
    return target


@pytest.fixture(scope="module")
def main_secret_id(functions: dict[str, dict[str, Any]], secret_ids: set[str], callback_secret_id: str) -> str:
    """The secret holding the pepper and every other credential: what SECRET_ID names."""
    named = {_ref_target(_environment(f).get("SECRET_ID")) for f in functions.values()} - {None}
    assert len(named) == 1 and named <= secret_ids and named != {callback_secret_id}, named
    return str(named.pop())


@pytest.fixture(scope="module")
def function_url_targets(resources: dict[str, Any]) -> list[str]:
    """The function behind each AWS::Lambda::Url, one entry per URL."""
    return [
        _ref_target(res["Properties"]["TargetFunctionArn"]) or "<not a function of this template>"
        for res in resources.values()
        if res["Type"] == "AWS::Lambda::Url"
    ]


@pytest.fixture(scope="module")
def lint(source: dict[str, Any], transformed: dict[str, Any], source_functions: dict[str, dict[str, Any]],
         table_id: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[LintFinding]]:
    """cfn-lint's findings on every template this module judges, from one cfn-lint run (starting cfn-lint
    costs more than linting a template)."""
    folder = tmp_path_factory.mktemp("lint")
    broken, _, _ = _with_a_dangling_ref(source, source_functions, table_id)
    paths = {
        "template": TEMPLATE_PATH,
        "transformed": write_json(transformed, folder / "transformed.json"),
        "dangling_ref": write_json(transform_offline(broken), folder / "broken.json"),
        "options_on": write_json(transform_offline(source, {**WAF_ON, **KMS_ON}), folder / "options.json"),
    }
    found = cfn_lint_all(list(paths.values()))
    return {name: found[path] for name, path in paths.items()}


@pytest.fixture(scope="module")
def template_findings(lint: dict[str, list[LintFinding]]) -> list[LintFinding]:
    return lint["template"]


@pytest.fixture(scope="module")
def transformed_findings(lint: dict[str, list[LintFinding]]) -> list[LintFinding]:
    return lint["transformed"]


# --------------------------------------------------------------------------------------------------------
# Helpers


def _only_resource_of_type(resources: dict[str, Any], resource_type: str) -> str:
    names = [name for name, res in resources.items() if res["Type"] == resource_type]
    assert len(names) == 1, f"expected exactly one {resource_type}, found {names}"
    return names[0]


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _is_true(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.lower() == "true")


def _ref_target(value: Any) -> str | None:
    if isinstance(value, dict) and set(value) == {"Ref"} and isinstance(value["Ref"], str):
        return value["Ref"]
    return None


def _getatt(value: Any) -> tuple[str, str] | None:
    if not (isinstance(value, dict) and set(value) == {"Fn::GetAtt"}):
        return None
    target = value["Fn::GetAtt"]
    parts = target.split(".", 1) if isinstance(target, str) else target
    return (parts[0], parts[1]) if isinstance(parts, list) and len(parts) == 2 else None


def _sub_text(value: Any) -> str | None:
    if not (isinstance(value, dict) and set(value) == {"Fn::Sub"}):
        return None
    body = value["Fn::Sub"]
    text = body[0] if isinstance(body, list) else body
    return text if isinstance(text, str) else None


def _policy_documents(resources: dict[str, Any], role_id: str) -> Iterator[dict[str, Any]]:
    """Every policy document that applies to the role: inline, attached policy resources, and managed
    policies defined in this template."""
    role = resources[role_id]["Properties"]
    for policy in role.get("Policies") or []:
        yield policy["PolicyDocument"]
    for arn in role.get("ManagedPolicyArns") or []:
        target = _ref_target(arn)
        if target is not None and resources.get(target, {}).get("Type") == "AWS::IAM::ManagedPolicy":
            yield resources[target]["Properties"]["PolicyDocument"]
    for res in resources.values():
        props = res.get("Properties") or {}
        if res["Type"] in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy") and {"Ref": role_id} in (
            props.get("Roles") or []
        ):
            yield props["PolicyDocument"]
        if res["Type"] == "AWS::IAM::RolePolicy" and props.get("RoleName") == {"Ref": role_id}:
            yield props["PolicyDocument"]


def _role_id(resources: dict[str, Any], function: dict[str, Any]) -> str:
    role = _getatt(function.get("Role"))
    assert role is not None and resources.get(role[0], {}).get("Type") == "AWS::IAM::Role", (
        f"function role {function.get('Role')!r} is not a role defined in this template, so it cannot be checked"
    )
    return role[0]


def _statements(resources: dict[str, Any], function: dict[str, Any]) -> list[dict[str, Any]]:
    statements: list[dict[str, Any]] = []
    for document in _policy_documents(resources, _role_id(resources, function)):
        statements.extend(_as_list(document.get("Statement")))
    return statements


def _allowed_statements(resources: dict[str, Any], function: dict[str, Any]) -> list[dict[str, Any]]:
    return [s for s in _statements(resources, function) if s.get("Effect") == "Allow"]


def _actions(statement: dict[str, Any]) -> list[str]:
    return [a for a in _as_list(statement.get("Action")) if isinstance(a, str)]


def _touches(action: str, service: str) -> bool:
    """Whether an IAM action pattern can grant something on the service ("*" grants everything)."""
    return fnmatch.fnmatchcase(f"{service}:x".lower(), action.lower()) or action.lower().startswith(f"{service}:")


def _grants(action: str, wanted: str) -> bool:
    return fnmatch.fnmatchcase(wanted.lower(), action.lower())  # IAM actions are case-insensitive


def _bulk_dynamodb_grants(resources: dict[str, Any], functions: dict[str, dict[str, Any]],
                          disposable_table: str | None = None) -> dict[str, set[str]]:
    """Scans and deletions each function may do; a DeleteItem confined to `disposable_table` is not one."""
    found: dict[str, set[str]] = {}
    for name, function in functions.items():
        for statement in _allowed_statements(resources, function):
            targets = _as_list(statement.get("Resource"))
            confined = bool(targets) and all(_getatt(t) == (disposable_table, "Arn") for t in targets)
            for action in _actions(statement):
                hits = {bulk for bulk in BULK_DYNAMODB_ACTIONS if _grants(action, bulk)
                        and not (confined and bulk == "dynamodb:DeleteItem")}
                if hits:
                    found.setdefault(name, set()).update(hits)
    return found


def _environment(function: dict[str, Any]) -> dict[str, Any]:
    variables: dict[str, Any] = ((function.get("Environment") or {}).get("Variables")) or {}
    return variables


def _credential_smell(name: str, value: Any) -> str | None:
    """Why an environment value looks like an inlined credential, or None. A Ref or GetAtt names another
    resource or a parameter; a Sub is judged by its literal text only."""
    if _ref_target(value) is not None or _getatt(value) is not None:
        return None
    sub = _sub_text(value)
    if sub is not None:
        literal = re.sub(r"\$\{[^}]*\}", " ", sub)
        run = KEY_LIKE_RUN.search(literal)
        return f"Sub text has a key-like run {run.group()!r}" if run else None
    if isinstance(value, dict | list):  # other intrinsics (Join, If, ...): judge every literal inside
        leaves = value.values() if isinstance(value, dict) else value
        return next((smell for leaf in leaves if (smell := _credential_smell(name, leaf))), None)
    literal_text = str(value)
    with contextlib.suppress(ValueError):  # a JSON setting (ROUTING, LIMITS, from a parameter): judge its leaves
        setting = json.loads(literal_text)
        if isinstance(setting, dict | list):
            return _credential_smell(name, list(setting.values()) if isinstance(setting, dict) else setting)
    if len(literal_text) > LITERAL_LIMIT:
        return f"a {len(literal_text)}-character literal"
    if literal_text and CREDENTIAL_NAME.search(name):
        return "a literal value under a credential-like name"
    return None


def _credential_fields(value: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(value, dict):
        for key, inner in value.items():
            where = f"{path}.{key}" if path else key
            if CREDENTIAL_NAME.search(key) and not isinstance(inner, dict | list):
                yield where, inner
            yield from _credential_fields(inner, where)
    elif isinstance(value, list):
        for index, inner in enumerate(value):
            yield from _credential_fields(inner, f"{path}[{index}]")


def _rest_api_routes(resources: dict[str, Any], rest_api_id: str) -> set[tuple[str, str]]:
    """(path, METHOD) for each route in the REST API's definition (SAM writes it as a Swagger Body)."""
    body = resources[rest_api_id]["Properties"].get("Body") or {}
    return {(path, method.upper()) for path, methods in (body.get("paths") or {}).items() for method in methods}


def _encoded_resource_path(path: str) -> str:
    """MethodSetting.ResourcePath form of a route path: `/checks/{id}` is `/~1checks~1{id}`, the root is `/`."""
    trimmed = path.strip("/")
    return "/~1" + trimmed.replace("/", "~1") if trimmed else "/"


def _typo(name: str) -> str:
    return name[:-2] + name[-1] + name[-2]  # ChecksTable -> ChecksTabel


# --------------------------------------------------------------------------------------------------------
# 1-2. cfn-lint, before and after the SAM transform


def test_cfn_lint_finds_nothing_in_the_sam_template(template_findings: list[LintFinding]) -> None:
    unexpected = [str(f) for f in template_findings if f.rule not in ACCEPTED_TEMPLATE_FINDINGS]
    assert unexpected == []


def test_sam_transform_deploys_every_function_of_the_template(
    source_functions: dict[str, dict[str, Any]], functions: dict[str, dict[str, Any]]
) -> None:
    assert set(functions) == set(source_functions)


def test_cfn_lint_finds_nothing_in_the_transformed_template(transformed_findings: list[LintFinding]) -> None:
    unexpected = [str(f) for f in transformed_findings if f.rule not in ACCEPTED_TRANSFORMED_FINDINGS]
    assert unexpected == []


def test_accepted_transformed_findings_are_all_sam_generated(
    transformed_findings: list[LintFinding], source: dict[str, Any]
) -> None:
    """An accepted rule may only fire on resources SAM generated, never on one written in template.yaml
    (functions excepted: SAM rewrites those wholesale, and their own findings show up before the transform)."""
    written = {name for name, res in source["Resources"].items() if not res["Type"].startswith("AWS::Serverless::")}
    on_written = [
        str(f)
        for f in transformed_findings
        if f.rule in ACCEPTED_TRANSFORMED_FINDINGS and len(f.path) > 1 and f.path[1] in written
    ]
    assert on_written == []


def _with_a_dangling_ref(source: dict[str, Any], source_functions: dict[str, dict[str, Any]],
                         table_id: str) -> tuple[dict[str, Any], str, str]:
    """The template with one function's environment naming a table that does not exist (a typo)."""
    broken = copy.deepcopy(source)
    function_id = sorted(source_functions)[0]
    dangling = _typo(table_id)
    assert dangling not in broken["Resources"] and dangling not in (broken.get("Parameters") or {})
    properties = broken["Resources"][function_id]["Properties"]
    properties.setdefault("Environment", {}).setdefault("Variables", {})["TYPO_TABLE_NAME"] = {"Ref": dangling}
    return broken, function_id, dangling


def test_transformed_lint_catches_a_dangling_ref_in_a_function_environment(
    source: dict[str, Any], source_functions: dict[str, dict[str, Any]], table_id: str,
    lint: dict[str, list[LintFinding]],
) -> None:
    _, function_id, dangling = _with_a_dangling_ref(source, source_functions, table_id)

    findings = lint["dangling_ref"]

    caught = [
        f for f in findings if f.level == "Error" and f.path[:2] == ("Resources", function_id) and dangling in f.message
    ]
    assert caught, f"no error for Ref {dangling!r} in {function_id}; cfn-lint said: {[str(f) for f in findings]}"


# --------------------------------------------------------------------------------------------------------
# 3. Least privilege, read from the roles SAM generates (requirement 35)


def test_no_function_uses_the_sam_dynamodb_crud_policy(source_functions: dict[str, dict[str, Any]]) -> None:
    using = sorted(
        name
        for name, function in source_functions.items()
        for policy in _as_list(function.get("Policies"))
        if policy == "DynamoDBCrudPolicy" or (isinstance(policy, dict) and "DynamoDBCrudPolicy" in policy)
    )
    assert using == []


def test_no_function_can_scan_or_delete_from_the_table(
    resources: dict[str, Any], functions: dict[str, dict[str, Any]], idempotency_table_id: str
) -> None:
    assert _bulk_dynamodb_grants(resources, functions, disposable_table=idempotency_table_id) == {}


def test_only_start_check_reaches_the_idempotency_table(
    resources: dict[str, Any], functions: dict[str, dict[str, Any]], idempotency_table_id: str
) -> None:
    reaching = sorted(
        name
        for name, function in functions.items()
        for statement in _allowed_statements(resources, function)
        if any(_getatt(r) == (idempotency_table_id, "Arn") for r in _as_list(statement.get("Resource")))
    )
    assert reaching == [name for name, f in functions.items() if "IDEMPOTENCY_TABLE_NAME" in _environment(f)]
    assert len(reaching) == 1


def test_functions_use_only_keyed_item_reads_writes_and_queries(
    resources: dict[str, Any], functions: dict[str, dict[str, Any]]
) -> None:
    outside = {
        name: sorted(
            action
            for statement in _allowed_statements(resources, function)
            for action in _actions(statement)
            if _touches(action, "dynamodb") and action.lower() not in ITEM_LEVEL_DYNAMODB_ACTIONS
        )
        for name, function in functions.items()
    }
    assert {name: actions for name, actions in outside.items() if actions} == {}


def test_functions_can_only_read_the_secret(resources: dict[str, Any], functions: dict[str, dict[str, Any]]) -> None:
    outside = {
        name: sorted(
            action
            for statement in _allowed_statements(resources, function)
            for action in _actions(statement)
            if _touches(action, "secretsmanager") and action.lower() not in SECRET_READ_ACTIONS
        )
        for name, function in functions.items()
    }
    assert {name: actions for name, actions in outside.items() if actions} == {}


def test_no_dynamodb_or_secretsmanager_statement_applies_to_every_resource(
    resources: dict[str, Any], functions: dict[str, dict[str, Any]]
) -> None:
    wildcard = sorted(
        f"{name}: {statement}"
        for name, function in functions.items()
        for statement in _allowed_statements(resources, function)
        if any(_touches(a, "dynamodb") or _touches(a, "secretsmanager") for a in _actions(statement))
        and any(isinstance(r, str) and "*" in r for r in _as_list(statement.get("Resource")))
    )
    assert wildcard == []


def test_function_policies_grant_nothing_by_exclusion(
    resources: dict[str, Any], functions: dict[str, dict[str, Any]]
) -> None:
    """An Allow with NotAction or NotResource grants everything else, out of reach of the checks above."""
    by_exclusion = sorted(
        f"{name}: {statement}"
        for name, function in functions.items()
        for statement in _allowed_statements(resources, function)
        if "NotAction" in statement or "NotResource" in statement
    )
    assert by_exclusion == []


def test_dynamodb_statements_point_only_at_the_tables(
    resources: dict[str, Any], functions: dict[str, dict[str, Any]], table_ids: list[str]
) -> None:
    def is_table_or_its_indexes(resource: Any) -> bool:
        if _getatt(resource) in {(table_id, "Arn") for table_id in table_ids}:
            return True
        text = _sub_text(resource)
        return text is not None and any(text == f"${{{table_id}.Arn}}" or text.startswith(f"${{{table_id}.Arn}}/index/")
                                        for table_id in table_ids)

    elsewhere = sorted(
        f"{name}: {resource}"
        for name, function in functions.items()
        for statement in _allowed_statements(resources, function)
        if any(_touches(a, "dynamodb") for a in _actions(statement))
        for resource in _as_list(statement.get("Resource"))
        if not is_table_or_its_indexes(resource)
    )
    assert elsewhere == []


def test_secretsmanager_statements_point_only_at_the_secrets(
    resources: dict[str, Any], functions: dict[str, dict[str, Any]], secret_ids: set[str]
) -> None:
    elsewhere = sorted(
        f"{name}: {resource}"
        for name, function in functions.items()
        for statement in _allowed_statements(resources, function)
        if any(_touches(a, "secretsmanager") for a in _actions(statement))
        for resource in _as_list(statement.get("Resource"))
        if _ref_target(resource) not in secret_ids  # Ref of a Secrets Manager secret is its ARN
    )
    assert elsewhere == []


def _readable_secrets(resources: dict[str, Any], function: dict[str, Any]) -> set[str | None]:
    """The secrets a function's role may read (None: a resource that is not a secret of this template)."""
    return {
        _ref_target(resource)
        for statement in _allowed_statements(resources, function)
        if any(_touches(a, "secretsmanager") for a in _actions(statement))
        for resource in _as_list(statement.get("Resource"))
    }


def test_the_public_callback_function_can_read_only_the_callback_secret(
    resources: dict[str, Any], functions: dict[str, dict[str, Any]], callback_function_id: str,
    callback_secret_id: str,
) -> None:
    assert _readable_secrets(resources, functions[callback_function_id]) == {callback_secret_id}


def test_the_public_callback_function_is_not_told_where_the_main_secret_is(
    functions: dict[str, dict[str, Any]], callback_function_id: str, main_secret_id: str
) -> None:
    environment = _environment(functions[callback_function_id])
    assert "SECRET_ID" not in environment
    assert main_secret_id not in json.dumps(environment)


def test_the_callback_secret_template_shapes_only_what_callbacks_need(
    resources: dict[str, Any], callback_secret_id: str
) -> None:
    """tru.ID's credentials (a check is read back after its callback); never the pepper or another provider's."""
    generate = resources[callback_secret_id]["Properties"]["GenerateSecretString"]
    assert set(json.loads(generate["SecretStringTemplate"])) == {"truid"}
    assert not CREDENTIAL_NAME.search(generate["GenerateStringKey"])


def test_the_callback_secret_check_catches_a_grant_on_the_main_secret(
    source: dict[str, Any], callback_function_id: str, main_secret_id: str, callback_secret_id: str
) -> None:
    broad = copy.deepcopy(source)
    statements = broad["Resources"][callback_function_id]["Properties"]["Policies"][0]["Statement"]
    statements.append({"Effect": "Allow", "Action": "secretsmanager:GetSecretValue",
                       "Resource": {"Ref": main_secret_id}})
    broad_resources = transform_offline(broad)["Resources"]

    readable = _readable_secrets(broad_resources, broad_resources[callback_function_id]["Properties"])

    assert readable == {callback_secret_id, main_secret_id}


def test_function_roles_attach_no_broad_managed_policies(
    resources: dict[str, Any], functions: dict[str, dict[str, Any]]
) -> None:
    attached = {
        name: [
            arn
            for arn in resources[_role_id(resources, function)]["Properties"].get("ManagedPolicyArns") or []
            if not (isinstance(arn, str) and arn.endswith(tuple(f":policy/{p}" for p in ACCEPTED_MANAGED_POLICIES)))
            and resources.get(_ref_target(arn) or "", {}).get("Type") != "AWS::IAM::ManagedPolicy"  # checked above
        ]
        for name, function in functions.items()
    }
    assert {name: arns for name, arns in attached.items() if arns} == {}


def test_least_privilege_checks_catch_a_crud_policy(
    source: dict[str, Any], source_functions: dict[str, dict[str, Any]], table_id: str, idempotency_table_id: str
) -> None:
    broad = copy.deepcopy(source)
    function_id = sorted(source_functions)[0]
    policies = broad["Resources"][function_id]["Properties"].setdefault("Policies", [])
    policies.append({"DynamoDBCrudPolicy": {"TableName": {"Ref": table_id}}})
    broad_transformed = transform_offline(broad)
    broad_functions = {
        name: res["Properties"]
        for name, res in broad_transformed["Resources"].items()
        if res["Type"] == "AWS::Lambda::Function"
    }

    flagged = _bulk_dynamodb_grants(broad_transformed["Resources"], broad_functions,
                                    disposable_table=idempotency_table_id)

    assert flagged == {function_id: set(BULK_DYNAMODB_ACTIONS)}


# --------------------------------------------------------------------------------------------------------
# 4. Functions and the shared layer


def test_every_function_runs_python_3_13(functions: dict[str, dict[str, Any]]) -> None:
    assert {name: f.get("Runtime") for name, f in functions.items() if f.get("Runtime") != "python3.13"} == {}


def test_every_function_runs_on_arm64(functions: dict[str, dict[str, Any]]) -> None:
    other = {name: f.get("Architectures") for name, f in functions.items() if f.get("Architectures") != ["arm64"]}
    assert other == {}


RESERVING = {"ReserveConcurrency": "on"}


@pytest.fixture(scope="module")
def reserving_functions(source: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The functions of the stack deployed with ReserveConcurrency=on."""
    resources = transform_offline(source, RESERVING)["Resources"]
    return {name: res["Properties"] for name, res in resources.items() if res["Type"] == "AWS::Lambda::Function"}


def test_no_function_reserves_concurrency_by_default(functions: dict[str, dict[str, Any]]) -> None:
    """A new account's concurrency quota (often 10 or 50) leaves nothing to reserve: Lambda keeps 100 unreserved."""
    assert {name: f["ReservedConcurrentExecutions"] for name, f in functions.items()
            if "ReservedConcurrentExecutions" in f} == {}


def test_every_function_reserves_concurrency_when_asked(reserving_functions: dict[str, dict[str, Any]]) -> None:
    """A ceiling per function (and 0 would switch it off, which a committed template must not do)."""
    unbounded = {
        name: f.get("ReservedConcurrentExecutions")
        for name, f in reserving_functions.items()
        if not (isinstance(f.get("ReservedConcurrentExecutions"), int) and f["ReservedConcurrentExecutions"] >= 1)
    }
    assert unbounded == {}


def test_the_deploy_guide_names_the_quota_the_reservations_need(
        reserving_functions: dict[str, dict[str, Any]]) -> None:
    """Lambda keeps 100 of the account's concurrency unreserved; the reservations come on top."""
    needed = sum(f["ReservedConcurrentExecutions"] for f in reserving_functions.values()) + 100
    guide = (TEMPLATE_PATH.parent / "docs" / "deploy.md").read_text(encoding="utf-8")

    assert f"ReserveConcurrency=on` needs an account concurrency quota of at least **{needed}**" in guide


def test_every_function_attaches_the_shared_layer(
    resources: dict[str, Any], functions: dict[str, dict[str, Any]]
) -> None:
    layer_id = _only_resource_of_type(resources, "AWS::Lambda::LayerVersion")
    without = sorted(name for name, f in functions.items() if {"Ref": layer_id} not in (f.get("Layers") or []))
    assert without == []


def test_no_function_bundles_its_own_requirements(
    source: dict[str, Any], source_functions: dict[str, dict[str, Any]]
) -> None:
    """Dependencies live only in the layer: a function's CodeUri has no requirements.txt, or an empty one."""
    global_code_uri = ((source.get("Globals") or {}).get("Function") or {}).get("CodeUri")
    bundling: dict[str, Any] = {}
    for name, function in source_functions.items():
        code_uri = function.get("CodeUri", global_code_uri)
        if not isinstance(code_uri, str) or not (TEMPLATE_PATH.parent / code_uri).is_dir():
            bundling[name] = f"CodeUri {code_uri!r} is not a local directory"
            continue
        requirements = TEMPLATE_PATH.parent / code_uri / "requirements.txt"
        if requirements.is_file():
            lines = [line.split("#", 1)[0].strip() for line in requirements.read_text().splitlines()]
            if any(lines):
                bundling[name] = [line for line in lines if line]
    assert bundling == {}


def test_shared_layer_is_built_for_python_3_13_on_arm64_with_its_bytecode(source: dict[str, Any]) -> None:
    """sam build's python builder unpacks wheels without .pyc, and /opt is read-only on Lambda: every cold start
    would compile every module. The layer's own build target installs the aarch64 wheels for 3.13 and compiles."""
    layer_id = _only_resource_of_type(source["Resources"], "AWS::Serverless::LayerVersion")
    layer = source["Resources"][layer_id]
    assert (layer.get("Metadata") or {}).get("BuildMethod") == "makefile"
    assert layer["Properties"]["CompatibleRuntimes"] == ["python3.13"]
    makefile = (TEMPLATE_PATH.parent / layer["Properties"]["ContentUri"] / "Makefile").read_text()
    recipe = makefile.partition(f"build-{layer_id}:")[2]
    assert "--python-version 3.13" in recipe and "--target \"$(ARTIFACTS_DIR)/python\"" in recipe
    assert re.search(r"PLATFORMS :=(\s+--platform \S+_aarch64)+\n", makefile)
    assert "compileall" in recipe and "--invalidation-mode unchecked-hash" in recipe


def test_shared_layer_is_built_for_arm64(source: dict[str, Any]) -> None:
    layer = source["Resources"][_only_resource_of_type(source["Resources"], "AWS::Serverless::LayerVersion")]
    architectures = (layer.get("Properties") or {}).get("CompatibleArchitectures")
    assert ((layer.get("Metadata") or {}).get("BuildArchitecture"), architectures) == ("arm64", ["arm64"])


# --------------------------------------------------------------------------------------------------------
# 5. The table and the secret (requirements 38-39)


def test_tables_bill_per_request(resources: dict[str, Any], table_ids: list[str]) -> None:
    assert {name: resources[name]["Properties"].get("BillingMode") for name in table_ids} == {
        name: "PAY_PER_REQUEST" for name in table_ids}


def test_tables_expire_items_with_ttl(resources: dict[str, Any], table_ids: list[str]) -> None:
    for name in table_ids:
        ttl = resources[name]["Properties"].get("TimeToLiveSpecification") or {}
        assert _is_true(ttl.get("Enabled")) and ttl.get("AttributeName"), name


def test_idempotency_table_has_the_layout_powertools_writes(resources: dict[str, Any],
                                                            idempotency_table_id: str) -> None:
    from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer

    layer = DynamoDBPersistenceLayer(table_name="t", boto3_client=object())  # type: ignore[arg-type]
    properties = resources[idempotency_table_id]["Properties"]
    assert properties["KeySchema"] == [{"AttributeName": layer.key_attr, "KeyType": "HASH"}]
    assert properties["TimeToLiveSpecification"]["AttributeName"] == layer.expiry_attr


def test_table_has_point_in_time_recovery(table: dict[str, Any]) -> None:
    pitr = table["Properties"].get("PointInTimeRecoverySpecification") or {}
    assert _is_true(pitr.get("PointInTimeRecoveryEnabled"))


def test_table_has_deletion_protection_when_asked(source: dict[str, Any], table_id: str) -> None:
    protected = transform_offline(source, {"TableDeletionProtection": "on"})["Resources"][table_id]

    assert _is_true(protected["Properties"].get("DeletionProtectionEnabled"))


def test_table_deletion_protection_is_off_for_the_first_create(table: dict[str, Any]) -> None:
    """While it is on, a failed create cannot delete the table it made (docs/deploy.md, First deploy)."""
    assert table["Properties"].get("DeletionProtectionEnabled") is False


def test_table_survives_stack_deletion_and_replacement_but_not_a_failed_create(table: dict[str, Any]) -> None:
    assert (table.get("DeletionPolicy"), table.get("UpdateReplacePolicy")) == ("RetainExceptOnCreate", "Retain")


def test_every_function_finds_the_callback_secret_by_its_arn(
    functions: dict[str, dict[str, Any]], callback_secret_id: str
) -> None:
    other = {
        name: _environment(f).get("CALLBACK_SECRET_ID")
        for name, f in functions.items()
        if _ref_target(_environment(f).get("CALLBACK_SECRET_ID")) != callback_secret_id
    }
    assert other == {}


def test_every_function_behind_the_api_finds_the_main_secret_by_its_arn(
    functions: dict[str, dict[str, Any]], callback_function_id: str, main_secret_id: str
) -> None:
    other = {
        name: _environment(f).get("SECRET_ID")
        for name, f in functions.items()
        if name != callback_function_id and _ref_target(_environment(f).get("SECRET_ID")) != main_secret_id
    }
    assert other == {}


def test_no_environment_variable_looks_like_a_credential(functions: dict[str, dict[str, Any]]) -> None:
    smells = {
        f"{name}.{variable}": smell
        for name, function in functions.items()
        for variable, value in _environment(function).items()
        if (smell := _credential_smell(variable, value))
    }
    assert smells == {}


def test_secret_templates_hold_no_credential_values(resources: dict[str, Any], secret_ids: set[str]) -> None:
    """The template may shape the secrets, never fill them: no SecretString, and every credential-like field
    of SecretStringTemplate is empty (GenerateStringKey fills one with a random value at deploy time)."""
    filled: dict[str, Any] = {}
    for secret_id in sorted(secret_ids):
        properties = resources[secret_id]["Properties"]
        assert "SecretString" not in properties, secret_id
        shape = json.loads((properties.get("GenerateSecretString") or {}).get("SecretStringTemplate") or "{}")
        filled |= {f"{secret_id}.{field}": value for field, value in _credential_fields(shape)
                   if value not in ("", None)}
    assert filled == {}


# --------------------------------------------------------------------------------------------------------
# 6. API throttling and outputs (requirement 37)


def test_every_api_stage_throttles_all_methods_by_default(resources: dict[str, Any]) -> None:
    stages = {name: res["Properties"] for name, res in resources.items() if res["Type"] == "AWS::ApiGateway::Stage"}
    http_stages = {
        name: res["Properties"] for name, res in resources.items() if res["Type"] == "AWS::ApiGatewayV2::Stage"
    }
    assert stages or http_stages, "no API stage in the template"

    def throttles(settings: dict[str, Any]) -> bool:
        rate, burst = settings.get("ThrottlingRateLimit"), settings.get("ThrottlingBurstLimit")
        return isinstance(rate, int | float) and rate > 0 and isinstance(burst, int) and burst > 0

    unthrottled = [
        name
        for name, stage in stages.items()
        if not any(
            s.get("ResourcePath") == "/*" and s.get("HttpMethod") == "*" and throttles(s)
            for s in stage.get("MethodSettings") or []
        )
    ] + [name for name, stage in http_stages.items() if not throttles(stage.get("DefaultRouteSettings") or {})]
    assert unthrottled == []


def test_route_throttling_overrides_name_routes_the_api_serves(resources: dict[str, Any]) -> None:
    unmatched = []
    for name, res in resources.items():
        if res["Type"] != "AWS::ApiGateway::Stage":
            continue
        rest_api_id = _ref_target(res["Properties"].get("RestApiId"))
        assert rest_api_id is not None, f"{name} belongs to an API outside the template"
        routes = _rest_api_routes(resources, rest_api_id)
        served = {(_encoded_resource_path(path), method) for path, method in routes}
        for setting in res["Properties"].get("MethodSettings") or []:
            path, method = setting.get("ResourcePath"), str(setting.get("HttpMethod")).upper()
            if path == "/*":
                continue
            if not any(path == p and method in ("*", m) for p, m in served):
                unmatched.append(f"{name}: {path} {method} (routes: {sorted(served)})")
    assert unmatched == []


def test_outputs_include_the_api_url(source: dict[str, Any]) -> None:
    api_id = _only_resource_of_type(source["Resources"], "AWS::Serverless::Api")
    stage = source["Resources"][api_id]["Properties"]["StageName"]
    stage_text = f"${{{_ref_target(stage)}}}" if _ref_target(stage) else str(stage)
    urls = [
        text
        for output in (source.get("Outputs") or {}).values()
        if (text := _sub_text(output.get("Value")))
        and text.startswith(f"https://${{{api_id}}}.execute-api.")
        and text.rstrip("/").endswith(f"/{stage_text}")
    ]
    assert urls, f"no output gives the invoke URL of {api_id}'s stage"


def test_outputs_include_the_callback_function_url(transformed: dict[str, Any], resources: dict[str, Any]) -> None:
    url_ids = {name for name, res in resources.items() if res["Type"] == "AWS::Lambda::Url"}
    published = [
        name
        for name, output in (transformed.get("Outputs") or {}).items()
        if (target := _getatt(output.get("Value"))) and target[0] in url_ids and target[1] == "FunctionUrl"
    ]
    assert published, "no output gives the function URL providers post results to"


# --------------------------------------------------------------------------------------------------------
# 7. The one function URL (requirement 36, with its deliberate exception)


def test_only_one_function_has_a_url(function_url_targets: list[str]) -> None:
    """AuthType NONE on the provider callback is deliberate: providers cannot sign AWS requests. The capability
    in the callback path authenticates them instead. No other function may be reachable that way."""
    assert len(function_url_targets) == 1, function_url_targets


def test_function_url_has_reserved_concurrency_when_asked(
    function_url_targets: list[str], reserving_functions: dict[str, dict[str, Any]]
) -> None:
    """Throttling and WAF on the REST API do not cover a function URL; reserved concurrency is its only cap."""
    capped = {name: reserving_functions.get(name, {}).get("ReservedConcurrentExecutions")
              for name in function_url_targets}
    assert capped and all(isinstance(limit, int) and limit >= 1 for limit in capped.values()), capped


def test_function_url_is_not_a_way_around_the_rest_api(
    function_url_targets: list[str], source_functions: dict[str, dict[str, Any]]
) -> None:
    """The URL's function serves no API route, so no route can be reached without the stage's throttling."""
    routed = {
        name: sorted(
            event_id
            for event_id, event in (source_functions.get(name, {}).get("Events") or {}).items()
            if event.get("Type") in ("Api", "HttpApi")
        )
        for name in function_url_targets
    }
    assert {name: events for name, events in routed.items() if events} == {}


def test_only_the_url_function_is_invokable_by_anyone(
    resources: dict[str, Any], function_url_targets: list[str]
) -> None:
    public = sorted(
        str(_ref_target(res["Properties"].get("FunctionName")) or res["Properties"].get("FunctionName"))
        for res in resources.values()
        if res["Type"] == "AWS::Lambda::Permission" and res["Properties"].get("Principal") == "*"
    )
    assert set(public) <= set(function_url_targets), public


# --------------------------------------------------------------------------------------------------------
# 8. Operations: alarms, the dashboard, log groups and the access log (docs/operations.md)

# What the alarms must watch: (namespace, metric name) as the code emits them or as AWS publishes them.
OWN = "<own namespace>"
WATCHED_SIGNALS = {
    "provider error rate": (OWN, Metric.PROVIDER_FAILURES.value),
    "PROVIDER_REJECTED at all": (OWN, Metric.PROVIDER_REJECTIONS.value),
    "starts with no completions": (OWN, Metric.DEVICE_RETURNS.value),
    "callback rejections": (OWN, Metric.CALLBACKS_REJECTED.value),
    "a breaker open": (OWN, Metric.BREAKER_OPENED.value),
    "API 5xx": ("AWS/ApiGateway", "5XXError"),
    "throttles": ("AWS/Lambda", "Throttles"),
    "table throttles": ("AWS/DynamoDB", "WriteThrottleEvents"),
}
_MI_QUERY = re.compile(r"SELECT\s+\w+\((\w+)\)\s+FROM\s+SCHEMA\((\$\{\w+\}|\w+)", re.IGNORECASE)
_FORBIDDEN_ACCESS_LOG_FIELDS = ("$context.path", "querystring", "sourceIp", "userAgent", "$input",
                                "$context.authorizer", "caller")


@pytest.fixture(scope="module")
def alarms(resources: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found = {name: res["Properties"] for name, res in resources.items() if res["Type"] == "AWS::CloudWatch::Alarm"}
    assert found, "the template has no alarms"
    return found


def _namespace(value: Any, source: dict[str, Any]) -> str:
    """OWN for the MetricsNamespace parameter (which the functions' POWERTOOLS_METRICS_NAMESPACE refers to)."""
    env = source["Globals"]["Function"]["Environment"]["Variables"]
    own = _ref_target(env["POWERTOOLS_METRICS_NAMESPACE"])
    assert own in source["Parameters"], "POWERTOOLS_METRICS_NAMESPACE must be a template parameter"
    # AWS::LanguageExtensions has put the parameter's value in (the default: `resources` is the default stack)
    return OWN if value in ({"Ref": own}, f"${{{own}}}", "${Namespace}", source["Parameters"][own]["Default"]) \
        else str(value)


def _watched(alarm: dict[str, Any], source: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """(namespace, metric name, dimensions) of every metric an alarm reads, Metrics Insights queries included."""
    found: list[tuple[str, str, dict[str, Any]]] = []
    if "MetricName" in alarm:
        dims = {d["Name"]: d["Value"] for d in alarm.get("Dimensions") or []}
        found.append((_namespace(alarm["Namespace"], source), alarm["MetricName"], dims))
    for query in alarm.get("Metrics") or []:
        if "MetricStat" in query:
            metric = query["MetricStat"]["Metric"]
            dims = {d["Name"]: d["Value"] for d in metric.get("Dimensions") or []}
            found.append((_namespace(metric["Namespace"], source), metric["MetricName"], dims))
        text = _sub_text(query.get("Expression")) or query.get("Expression") or ""
        for name, namespace in _MI_QUERY.findall(text):
            found.append((_namespace(namespace, source), name, {}))
    return found


def test_an_alarm_watches_each_signal_the_operations_guide_names(
    alarms: dict[str, dict[str, Any]], source: dict[str, Any]
) -> None:
    watched = {(namespace, name) for alarm in alarms.values() for namespace, name, _ in _watched(alarm, source)}

    assert {signal: metric for signal, metric in WATCHED_SIGNALS.items() if metric not in watched} == {}


def test_alarms_read_only_metrics_the_code_emits(alarms: dict[str, dict[str, Any]], source: dict[str, Any]) -> None:
    own = {name for alarm in alarms.values() for namespace, name, _ in _watched(alarm, source) if namespace == OWN}

    assert own and own <= {metric.value for metric in Metric}


def test_alarms_on_own_metrics_use_dimensions_the_code_emits(
    alarms: dict[str, dict[str, Any]], source: dict[str, Any]
) -> None:
    wrong = [
        (name, metric, dims)
        for name, alarm in alarms.items()
        for namespace, metric, dims in _watched(alarm, source)
        if namespace == OWN and dims and (dims.get("service") != SERVICE or not set(dims) <= {"service", *DIMENSIONS})
    ]
    assert wrong == []


def test_the_throttles_alarm_covers_every_function(
    alarms: dict[str, dict[str, Any]], source: dict[str, Any], functions: dict[str, dict[str, Any]]
) -> None:
    covered = {
        _ref_target(dims.get("FunctionName"))
        for alarm in alarms.values()
        for namespace, name, dims in _watched(alarm, source)
        if (namespace, name) == ("AWS/Lambda", "Throttles")
    }
    assert set(functions) - covered == set()


def test_the_5xx_alarm_watches_the_apis_own_name_and_stage(
    alarms: dict[str, dict[str, Any]], source: dict[str, Any], resources: dict[str, Any]
) -> None:
    api_id = _only_resource_of_type(resources, "AWS::ApiGateway::RestApi")
    stage = resources[_only_resource_of_type(resources, "AWS::ApiGateway::Stage")]["Properties"]["StageName"]
    dims = [d for alarm in alarms.values() for ns, name, d in _watched(alarm, source) if name == "5XXError"]

    assert dims == [{"ApiName": resources[api_id]["Properties"]["Name"], "Stage": stage}]


def _alarm_actions(source: dict[str, Any], parameters: dict[str, str] | None = None) -> dict[str, Any]:
    resources = transform_offline(source, parameters)["Resources"]
    return {name: (res["Properties"].get("AlarmActions"), res["Properties"].get("OKActions"))
            for name, res in resources.items() if res["Type"] == "AWS::CloudWatch::Alarm"}


def test_every_alarm_notifies_the_topic_parameter_when_it_fires_and_clears(source: dict[str, Any]) -> None:
    topic = ["arn:aws:sns:us-east-1:123456789012:silentcheck-oncall"]
    actions = _alarm_actions(source, {"AlarmTopicArn": topic[0]})

    assert actions and {name: a for name, a in actions.items() if a != (topic, topic)} == {}


def test_without_a_topic_alarms_have_no_actions(source: dict[str, Any]) -> None:
    assert source["Parameters"]["AlarmTopicArn"]["Default"] == ""
    assert {name: a for name, a in _alarm_actions(source).items() if a != (None, None)} == {}


def _dashboard_body(resources: dict[str, Any]) -> dict[str, Any]:
    dashboard = resources[_only_resource_of_type(resources, "AWS::CloudWatch::Dashboard")]
    text = _sub_text(dashboard["Properties"]["DashboardBody"])
    assert text is not None
    body: dict[str, Any] = json.loads(re.sub(r"\$\{([\w.:]+)\}", r"<\1>", text))
    return body


def test_the_dashboard_body_is_json_and_shows_every_alarm(resources: dict[str, Any], alarms: dict[str, Any]) -> None:
    body = _dashboard_body(resources)
    shown = {alarm for widget in body["widgets"] if widget["type"] == "alarm"
             for alarm in widget["properties"]["alarms"]}

    assert shown == {f"<{name}.Arn>" for name in alarms}


def test_the_dashboard_graphs_only_metrics_the_code_emits(resources: dict[str, Any]) -> None:
    body = _dashboard_body(resources)
    own: set[str] = set()
    for widget in body["widgets"]:
        for row in (widget.get("properties") or {}).get("metrics", []):
            if isinstance(row[0], dict):
                own.update(name for name, _ in _MI_QUERY.findall(row[0]["expression"]))
            elif row[0] == "<Namespace>":
                own.add(row[1])
    assert own and own <= {metric.value for metric in Metric}


RETENTION = {"LogRetentionDays": "545"}  # not the default, so a hard-coded retention cannot pass


@pytest.fixture(scope="module")
def retention_stack(source: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = transform_offline(source, RETENTION)["Resources"]
    return found


def test_every_function_logs_to_its_own_group_kept_for_the_retention_parameter(
    retention_stack: dict[str, Any], functions: dict[str, dict[str, Any]]
) -> None:
    resources = retention_stack
    groups = {name: _ref_target((f.get("LoggingConfig") or {}).get("LogGroup")) for name, f in functions.items()}
    retention = {name: resources.get(group or "", {}).get("Properties", {}).get("RetentionInDays")
                 for name, group in groups.items()}

    assert len(set(groups.values())) == len(functions)
    assert {name: r for name, r in retention.items() if r != RETENTION["LogRetentionDays"]} == {}


def test_the_api_stage_writes_an_access_log_kept_for_the_retention_parameter(retention_stack: dict[str, Any]) -> None:
    resources = retention_stack
    stage = resources[_only_resource_of_type(resources, "AWS::ApiGateway::Stage")]["Properties"]
    destination = _getatt(stage["AccessLogSetting"]["DestinationArn"])

    assert destination is not None and destination[1] == "Arn"
    assert resources[destination[0]]["Properties"]["RetentionInDays"] == RETENTION["LogRetentionDays"]


def test_the_access_log_is_json_without_paths_queries_addresses_or_callers(resources: dict[str, Any]) -> None:
    stage = resources[_only_resource_of_type(resources, "AWS::ApiGateway::Stage")]["Properties"]
    log_format = stage["AccessLogSetting"]["Format"]

    fields = json.loads(log_format)
    assert "requestId" in fields and "status" in fields
    assert [f for f in _FORBIDDEN_ACCESS_LOG_FIELDS if f.lower() in log_format.lower().replace("apikeyid", "")] == []


def test_every_log_group_of_the_template_has_the_retention_parameter(retention_stack: dict[str, Any]) -> None:
    groups = {name: res["Properties"].get("RetentionInDays") for name, res in retention_stack.items()
              if res["Type"] == "AWS::Logs::LogGroup"}
    assert groups and {name: r for name, r in groups.items() if r != RETENTION["LogRetentionDays"]} == {}


def _anchor(heading: str) -> str:
    """The anchor GitHub makes of a Markdown heading."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_every_alarm_points_at_a_section_of_the_operations_guide(alarms: dict[str, dict[str, Any]]) -> None:
    guide = (TEMPLATE_PATH.parent / "docs" / "operations.md").read_text(encoding="utf-8")
    anchors = {_anchor(line.lstrip("#")) for line in guide.splitlines() if line.startswith("#")}
    pointed = {name: re.findall(r"docs/operations\.md#([\w-]+)", alarm.get("AlarmDescription", ""))
               for name, alarm in alarms.items()}

    assert {name: found for name, found in pointed.items() if len(found) != 1 or found[0] not in anchors} == {}


def test_deploy_guide_explains_every_template_parameter(source: dict[str, Any]) -> None:
    guide = (TEMPLATE_PATH.parent / "docs" / "deploy.md").read_text(encoding="utf-8")
    rows = set(re.findall(r"^\| `(\w+)` \|", guide, re.MULTILINE))

    assert set(source["Parameters"]) - rows == set()
# SnapStart (parameter SnapStart): the functions behind API Gateway publish versions and are served through
# an alias, and SnapStart applies to those versions only when the parameter says "true".


def _api_function_ids(source: dict[str, Any]) -> set[str]:
    return {name for name, res in source["Resources"].items()
            if res["Type"] == "AWS::Serverless::Function"
            and any(event.get("Type") == "Api" for event in (res["Properties"].get("Events") or {}).values())}


def _snapstart(snapstart: str) -> dict[str, Any]:
    """SnapStart's ApplyOn per deployed function, in the template deployed with SnapStart=`snapstart`."""
    deployed = transform_offline(load_sam_template(TEMPLATE_PATH), {"SnapStart": snapstart})
    return {name: (res["Properties"].get("SnapStart") or {}).get("ApplyOn", "None")
            for name, res in deployed["Resources"].items() if res["Type"] == "AWS::Lambda::Function"}


def _versions(snapstart: str) -> set[str]:
    deployed = transform_offline(load_sam_template(TEMPLATE_PATH), {"SnapStart": snapstart})
    return {name for name, res in deployed["Resources"].items() if res["Type"] == "AWS::Lambda::Version"}


def test_snapstart_is_off_unless_asked_for(source: dict[str, Any]) -> None:
    parameter = source["Parameters"]["SnapStart"]
    assert (parameter["Default"], sorted(parameter["AllowedValues"])) == ("false", ["false", "true"])


@pytest.mark.parametrize(("snapstart", "applies_to_api"), [("true", "PublishedVersions"), ("false", "None")])
def test_snapstart_parameter_switches_it_on_the_api_functions_only(
    source: dict[str, Any], snapstart: str, applies_to_api: str
) -> None:
    api = _api_function_ids(source)
    applied = _snapstart(snapstart)
    assert api and {name: applied[name] for name in api} == dict.fromkeys(api, applies_to_api)
    assert {name: on for name, on in applied.items() if name not in api} == dict.fromkeys(set(applied) - api, "None")


def test_switching_snapstart_publishes_new_versions() -> None:
    """A snapshot is taken when a version is published: flipping the parameter must publish, not only reconfigure."""
    on, off = _versions("true"), _versions("false")
    assert len(on) == len(off) == 3 and on.isdisjoint(off)


def test_api_gateway_invokes_a_published_version_through_an_alias(
    source: dict[str, Any], resources: dict[str, Any]
) -> None:
    """SnapStart works on published versions only: every route's permission and integration name an alias."""
    aliases = {name: res["Properties"] for name, res in resources.items() if res["Type"] == "AWS::Lambda::Alias"}
    aliased = {_ref_target(props["FunctionName"]) for props in aliases.values()}
    assert aliased == _api_function_ids(source)
    assert all(_getatt(props["FunctionVersion"]) is not None for props in aliases.values())
    permitted = {_ref_target(res["Properties"]["FunctionName"]) for res in resources.values()
                 if res["Type"] == "AWS::Lambda::Permission"
                 and res["Properties"].get("Principal") == "apigateway.amazonaws.com"}
    assert permitted == set(aliases)
    body = resources[_only_resource_of_type(resources, "AWS::ApiGateway::RestApi")]["Properties"]["Body"]
    uris = {_sub_text(operation["x-amazon-apigateway-integration"]["uri"])
            for methods in body["paths"].values() for operation in methods.values()}
    assert uris and all(any(f"${{{alias}}}" in str(uri) for alias in aliases) for uri in uris), uris


# --------------------------------------------------------------------------------------------------------
# 9. Options, each off by default: AWS WAF on POST /checks, a customer-managed KMS key for the tables


WAF_ON = {"StartWaf": "on", "PeakStartsPerSecond": "100"}  # not the default profile, so not its WAF rate
KMS_ON = {"TableEncryption": "customer-managed"}


@pytest.fixture(scope="module")
def options_on(source: dict[str, Any]) -> dict[str, Any]:
    """The resources of the stack deployed with both options on."""
    found: dict[str, Any] = transform_offline(source, {**WAF_ON, **KMS_ON})["Resources"]
    return found


def _of_type(resources: dict[str, Any], resource_type: str) -> dict[str, dict[str, Any]]:
    return {name: res for name, res in resources.items() if res["Type"] == resource_type}


def test_no_waf_by_default(resources: dict[str, Any]) -> None:
    assert _of_type(resources, "AWS::WAFv2::WebACL") == _of_type(resources, "AWS::WAFv2::WebACLAssociation") == {}


def test_waf_blocks_an_address_over_the_rate_on_post_checks_with_429(options_on: dict[str, Any]) -> None:
    (acl,) = _of_type(options_on, "AWS::WAFv2::WebACL").values()

    (rule,) = acl["Properties"]["Rules"]
    rate = rule["Statement"]["RateBasedStatement"]
    waf_rate = load_sam_template(TEMPLATE_PATH)["Mappings"]["Capacity"][WAF_ON["PeakStartsPerSecond"]]
    assert (rate["Limit"], rate["AggregateKeyType"]) == (waf_rate["WafPerAddressPer5Min"], "IP")
    matches = {(m["ByteMatchStatement"]["PositionalConstraint"], m["ByteMatchStatement"]["SearchString"])
               for m in rate["ScopeDownStatement"]["AndStatement"]["Statements"]}
    assert matches == {("EXACTLY", "POST"), ("ENDS_WITH", "/checks")}
    assert rule["Action"]["Block"]["CustomResponse"]["ResponseCode"] == 429
    assert acl["Properties"]["DefaultAction"] == {"Allow": {}}


def test_waf_answers_with_the_body_the_api_documents_for_throttling(options_on: dict[str, Any], doc: Any) -> None:
    (acl,) = _of_type(options_on, "AWS::WAFv2::WebACL").values()
    key = acl["Properties"]["Rules"][0]["Action"]["Block"]["CustomResponse"]["CustomResponseBodyKey"]
    body = acl["Properties"]["CustomResponseBodies"][key]

    documented = doc["paths"]["/checks"]["post"]["responses"]["429"]["content"]["application/json"]["example"]
    assert (body["ContentType"], json.loads(body["Content"])) == ("APPLICATION_JSON", documented)


def test_waf_is_attached_to_the_api_stage(options_on: dict[str, Any]) -> None:
    (association,) = _of_type(options_on, "AWS::WAFv2::WebACLAssociation").values()
    (api_id,) = _of_type(options_on, "AWS::ApiGateway::RestApi")
    (stage_id,) = _of_type(options_on, "AWS::ApiGateway::Stage")
    (acl_id,) = _of_type(options_on, "AWS::WAFv2::WebACL")

    arn = _sub_text(association["Properties"]["ResourceArn"])
    assert arn is not None
    assert arn.endswith(f":apigateway:${{AWS::Region}}::/restapis/${{{api_id}}}/stages/${{{stage_id}}}")
    assert _getatt(association["Properties"]["WebACLArn"]) == (acl_id, "Arn")


def _table_key(resources: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {name: key for name, key in _of_type(resources, "AWS::KMS::Key").items()
            if key["Properties"].get("KeyUsage", "ENCRYPT_DECRYPT") == "ENCRYPT_DECRYPT"}


def test_tables_use_the_aws_managed_key_by_default(resources: dict[str, Any], table_ids: list[str]) -> None:
    assert {name: resources[name]["Properties"]["SSESpecification"] for name in table_ids} == {
        name: {"SSEEnabled": True} for name in table_ids}
    assert _table_key(resources) == {}


def test_customer_managed_key_encrypts_every_table(options_on: dict[str, Any], table_ids: list[str]) -> None:
    (key_id,) = _table_key(options_on)

    assert {name: options_on[name]["Properties"]["SSESpecification"] for name in table_ids} == {
        name: {"SSEEnabled": True, "SSEType": "KMS", "KMSMasterKeyId": {"Ref": key_id}} for name in table_ids}


def test_customer_managed_key_rotates_and_outlives_the_stack(options_on: dict[str, Any]) -> None:
    (key,) = _table_key(options_on).values()

    assert _is_true(key["Properties"]["EnableKeyRotation"])
    assert (key.get("DeletionPolicy"), key.get("UpdateReplacePolicy")) == ("RetainExceptOnCreate", "Retain")


def test_customer_managed_key_is_usable_only_through_dynamodb_in_this_account(options_on: dict[str, Any]) -> None:
    """Anyone but the account's administrators may use the key only by way of DynamoDB, so the tables' IAM
    statements (least privilege, above) remain what decides who reads them."""
    (key,) = _table_key(options_on).values()
    account_root = {"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:root"}

    for statement in key["Properties"]["KeyPolicy"]["Statement"]:
        if statement["Principal"] == {"AWS": account_root}:
            continue
        conditions = statement["Condition"]["StringEquals"]
        assert conditions["kms:ViaService"] == {"Fn::Sub": "dynamodb.${AWS::Region}.${AWS::URLSuffix}"}
        assert conditions["kms:CallerAccount"] == {"Ref": "AWS::AccountId"}
        assert not any(action in ("kms:*", "*") for action in _as_list(statement["Action"]))


def test_both_options_on_pass_cfn_lint_after_the_transform(lint: dict[str, list[LintFinding]]) -> None:
    findings = lint["options_on"]

    assert [str(f) for f in findings if f.rule not in ACCEPTED_TRANSFORMED_FINDINGS] == []
