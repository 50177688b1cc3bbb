#!/usr/bin/env python3
"""Checks packaging/cloudformation.yaml for what cfn-lint cannot see: that its alarms can
ring and are about the right things, that its lifecycle rules can apply, that its user data
survives a real bash run, and that every daemon metric it watches is one the daemon publishes.

    python3 tests/template/check_template.py [--template FILE] [--repo DIR] [--only NAME ...]

Each check prints PASS or FAIL with what it saw; the exit code is 1 when any check fails.
`--template` checks another copy (e.g. `git show main:packaging/cloudformation.yaml`), which
is how the checks were shown to fail on the template before the fix. The user-data checks run
the template's script with bash in a temporary directory, with stub journalctl, systemctl,
dnf, curl, sleep and cfn-signal on PATH; nothing outside that directory is written.
"""

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

try:  # cfn-lint's own reader (CI installs cfn-lint just before this runs)
    from cfnlint.decode import decode_str
except ImportError:  # a cfn-lint of another Python: PyYAML with the short-form tags
    decode_str = None

# Storage classes that bill (and by default only transition) objects of 128 KB or more.
MIN_128K_CLASSES = {"STANDARD_IA", "ONEZONE_IA", "INTELLIGENT_TIERING", "GLACIER_IR"}
# What the template's user data is rendered with (stand-ins for the stack's values).
TEST_VALUES = {
    "AWS::StackName": "teststack",
    "AWS::Region": "eu-west-1",
    "AWS::AccountId": "111122223333",
    "AWS::Partition": "aws",
    "StreamName": "test-stream",
    "RpmUrl": "https://example.invalid/bookstream-0.0.0-1.x86_64.rpm",
}
FAKE_RPM = b"not really an rpm\n"


class CheckFailed(Exception):
    pass


def need(cond, msg):
    if not cond:
        raise CheckFailed(msg)


# ------------------------------------------------------------------ template helpers
def load(path):
    text = Path(path).read_text()
    if decode_str is not None:
        template, matches = decode_str(text)
        need(template is not None and not matches, f"{path}: not a readable template: {matches}")
        return template
    try:
        import yaml
    except ImportError:
        sys.exit("check_template: needs cfn-lint's Python package or PyYAML (python3 -m pip install cfn-lint)")

    class Loader(yaml.SafeLoader):
        pass

    def short_form(loader, suffix, node):  # !Ref X -> {"Ref": X}, !Sub s -> {"Fn::Sub": s}
        if isinstance(node, yaml.ScalarNode):
            value = loader.construct_scalar(node)
            if suffix == "GetAtt":
                value = value.split(".", 1)
        elif isinstance(node, yaml.SequenceNode):
            value = loader.construct_sequence(node, deep=True)
        else:
            value = loader.construct_mapping(node, deep=True)
        return {"Ref" if suffix == "Ref" else "Fn::" + suffix: value}

    Loader.add_multi_constructor("!", short_form)
    return yaml.load(text, Loader)


def resources(t, type_=None):
    return {k: v for k, v in t["Resources"].items() if type_ is None or v.get("Type") == type_}


def props(r):
    return r.get("Properties", {})


def ref_name(v):
    """The logical id or parameter that `v` refers to (`!Ref X` or `!GetAtt X.Arn`), else None."""
    if isinstance(v, dict) and len(v) == 1:
        if "Ref" in v:
            return v["Ref"]
        if "Fn::GetAtt" in v:
            att = v["Fn::GetAtt"]
            return att[0] if isinstance(att, list) else att.split(".")[0]
    return None


def as_list(v):
    return v if isinstance(v, list) else [v]


def first_branch(v):
    """The value of `!If [cond, a, b]` when the condition holds (the case being checked)."""
    while isinstance(v, dict) and list(v) == ["Fn::If"]:
        v = v["Fn::If"][1]
    return v


def render_sub(t, text, values):
    """Fn::Sub of a plain string: parameters and pseudo parameters from `values` (then the
    parameter's default), resources as `ref:<LogicalId>`, `${!x}` as a literal `${x}`."""
    def one(m):
        name = m.group(1)
        if name.startswith("!"):
            return "${" + name[1:] + "}"
        if name in values:
            return str(values[name])
        if name in t.get("Parameters", {}) and "Default" in t["Parameters"][name]:
            return str(t["Parameters"][name]["Default"])
        base = name.split(".")[0]
        if base in t["Resources"]:
            return "ref:" + name
        raise CheckFailed(f"Fn::Sub variable ${{{name}}} has no value")
    return re.sub(r"\$\{([^}]*)\}", one, text)


def sub_text(v):
    if isinstance(v, dict) and "Fn::Sub" in v:
        s = v["Fn::Sub"]
        need(isinstance(s, str), "Fn::Sub with a variable map is not supported by this checker")
        return s
    need(isinstance(v, str), f"expected a string or Fn::Sub, got {v!r}")
    return v


def alarms(t):
    return resources(t, "AWS::CloudWatch::Alarm")


def alarm_topics(t):
    """SNS topics (logical ids) that some alarm notifies."""
    out = set()
    for a in alarms(t).values():
        for key in ("AlarmActions", "OKActions", "InsufficientDataActions"):
            for act in as_list(props(a).get(key, [])):
                name = ref_name(act)
                if name and t["Resources"].get(name, {}).get("Type") == "AWS::SNS::Topic":
                    out.add(name)
    return out


def notifies(t, alarm, topic_ids):
    return any(ref_name(a) in topic_ids for a in as_list(props(alarm).get("AlarmActions", [])))


def daemon_dimensions(t):
    """The dimensions every existing bookstream alarm uses (they must agree)."""
    dims = {json.dumps(props(a).get("Dimensions"), sort_keys=True)
            for a in alarms(t).values() if props(a).get("Namespace") == "bookstream"}
    need(len(dims) == 1, f"the bookstream alarms disagree on their dimensions: {sorted(dims)}")
    return json.loads(dims.pop())


def find_alarm(t, namespace, metric):
    found = {k: a for k, a in alarms(t).items()
             if props(a).get("Namespace") == namespace and props(a).get("MetricName") == metric}
    need(found, f"no alarm on {namespace} {metric}")
    need(len(found) == 1, f"several alarms on {namespace} {metric}: {sorted(found)}")
    return next(iter(found.items()))


def dashboard_rows(t):
    """Every metric row of every dashboard, shorthand ('.', '...') expanded, as
    (namespace, metric, {dimension: value})."""
    rows = []
    for d in resources(t, "AWS::CloudWatch::Dashboard").values():
        body = json.loads(render_sub(t, sub_text(props(d)["DashboardBody"]), TEST_VALUES))
        for w in body.get("widgets", []):
            prev = None
            for row in w.get("properties", {}).get("metrics", []):
                items = [x for x in row if not isinstance(x, dict)]
                if items and items[0] == "...":
                    items = list(prev) + items[1:]
                elif prev is not None:
                    items = [prev[i] if x == "." and i < len(prev) else x for i, x in enumerate(items)]
                prev = items
                dims = dict(zip(items[2::2], items[3::2]))
                rows.append((items[0], items[1], dims))
    return rows


# ------------------------------------------------------------------ item 11
def check_alarm_topic_key(t, repo):
    """Every topic an alarm notifies is either unencrypted or encrypted with a
    customer-managed key of this template whose policy lets CloudWatch use it."""
    topics = alarm_topics(t)
    need(topics, "no alarm notifies an SNS topic")
    said = []
    for tid in sorted(topics):
        key = props(t["Resources"][tid]).get("KmsMasterKeyId")
        if key is None:
            said.append(f"{tid}: no KMS key")
            continue
        need(not (isinstance(key, str) and "alias/aws/" in key),
             f"{tid} is encrypted with the AWS-managed key {key}: CloudWatch alarms cannot use it")
        kid = ref_name(key)
        need(kid in t["Resources"], f"{tid}: KmsMasterKeyId {key!r} is not a key this template defines")
        if t["Resources"][kid]["Type"] == "AWS::KMS::Alias":
            kid = ref_name(props(t["Resources"][kid])["TargetKeyId"])
        need(t["Resources"].get(kid, {}).get("Type") == "AWS::KMS::Key",
             f"{tid}: KmsMasterKeyId does not lead to an AWS::KMS::Key")
        statements = as_list(props(t["Resources"][kid])["KeyPolicy"]["Statement"])
        cw = [s for s in statements if s.get("Effect") == "Allow"
              and "cloudwatch.amazonaws.com" in as_list(s.get("Principal", {}).get("Service", []))]
        need(cw, f"{kid}: no key policy statement allows cloudwatch.amazonaws.com")
        actions = {a for s in cw for a in as_list(s["Action"])}
        need("kms:*" in actions or ("kms:Decrypt" in actions and
             actions & {"kms:GenerateDataKey*", "kms:GenerateDataKey"}),
             f"{kid}: CloudWatch may not kms:Decrypt and kms:GenerateDataKey* ({sorted(actions)})")
        for s in cw:
            conds = {k for op in s.get("Condition", {}).values() for k in op}
            need(conds & {"aws:SourceAccount", "aws:SourceArn"},
                 f"{kid}: the CloudWatch statement is not scoped to this account (aws:SourceAccount/aws:SourceArn)")
            for op in s["Condition"].values():
                for k in ("aws:SourceAccount", "aws:SourceArn"):
                    if k in op:
                        need("AWS::AccountId" in json.dumps(op[k]),
                             f"{kid}: {k} does not name this account")
        admin = [s for s in statements if s.get("Effect") == "Allow" and "kms:*" in as_list(s["Action"])
                 and ":root" in json.dumps(s.get("Principal", {}))]
        need(admin, f"{kid}: no statement lets the account root administer the key (lockout)")
        said.append(f"{tid}: key {kid}, cloudwatch.amazonaws.com may {sorted(actions)} for this account")
    # The topic policy must still let CloudWatch publish.
    pols = [p for p in resources(t, "AWS::SNS::TopicPolicy").values()
            if {ref_name(x) for x in props(p)["Topics"]} & topics]
    need(any("cloudwatch.amazonaws.com" in json.dumps(props(p)["PolicyDocument"]) for p in pols),
         "no topic policy lets cloudwatch.amazonaws.com publish to the alarm topic")
    return "; ".join(said)


# ------------------------------------------------------------------ item 12
def check_stream_reader_alarm(t, repo):
    name, a = find_alarm(t, "AWS/Kinesis", "GetRecords.IteratorAgeMilliseconds")
    p = props(a)
    dims = p.get("Dimensions", [])
    need(len(dims) == 1 and dims[0]["Name"] == "StreamName", f"{name}: dimensions {dims}")
    stream = ref_name(dims[0]["Value"])
    need(t["Resources"].get(stream, {}).get("Type") == "AWS::Kinesis::Stream",
         f"{name}: StreamName is not the template's stream ({dims[0]['Value']})")
    need(p.get("Statistic") == "Maximum", f"{name}: statistic {p.get('Statistic')}, want Maximum")
    need(p.get("TreatMissingData") == "breaching",
         f"{name}: TreatMissingData {p.get('TreatMissingData')!r}: a reader that stopped sends no data")
    need(p.get("ComparisonOperator") in ("GreaterThanThreshold", "GreaterThanOrEqualToThreshold"),
         f"{name}: comparison {p.get('ComparisonOperator')}")
    hours = int(props(t["Resources"][stream]).get("RetentionPeriodHours", 24))
    retention_ms = hours * 3600 * 1000
    threshold = float(p["Threshold"])
    need(threshold <= retention_ms / 2,
         f"{name}: threshold {threshold:.0f} ms is not well under the {hours} h retention")
    need(notifies(t, a, alarm_topics(t)), f"{name}: notifies no topic")
    return f"{name}: Maximum > {threshold / 3600000:g} h (retention {hours} h), missing = breaching"


# ------------------------------------------------------------------ item 13
def check_bucket_lifecycle(t, repo):
    said = []
    for bid, b in resources(t, "AWS::S3::Bucket").items():
        lc = first_branch(props(b).get("LifecycleConfiguration"))
        rules = [first_branch(r) for r in as_list(lc.get("Rules", []))] if lc else []
        default_min = lc.get("TransitionDefaultMinimumObjectSize", "all_storage_classes_128K") if lc else None
        for r in rules:
            ts = as_list(r.get("Transitions", [])) + as_list(r.get("Transition", []) or [])
            ts += as_list(r.get("NoncurrentVersionTransitions", [])) + as_list(r.get("NoncurrentVersionTransition", []) or [])
            for tr in ts:
                cls = tr.get("StorageClass")
                if cls in MIN_128K_CLASSES or (default_min == "all_storage_classes_128K" and cls):
                    need(int(r.get("ObjectSizeGreaterThan", 0)) >= 128 * 1024,
                         f"{bid} rule {r.get('Id')}: transition to {cls} for objects that may be under "
                         f"128 KB (S3 skips them by default; {cls} bills 128 KB minimum)")
        versioning = props(b).get("VersioningConfiguration")
        if versioning is None:
            said.append(f"{bid}: unversioned, no transition that cannot apply")
            continue

        def whole_bucket(r):
            return r.get("Status") == "Enabled" and not any(
                k in r for k in ("Prefix", "TagFilters", "ObjectSizeGreaterThan", "ObjectSizeLessThan"))
        nonc = [r for r in rules if whole_bucket(r) and (
            r.get("NoncurrentVersionExpiration", {}).get("NoncurrentDays")
            or r.get("NoncurrentVersionExpirationInDays"))]
        need(nonc, f"{bid}: versioning can be on, but no whole-bucket rule expires noncurrent versions")
        markers = [r for r in rules if whole_bucket(r) and r.get("ExpiredObjectDeleteMarker") is True]
        need(markers, f"{bid}: versioning can be on, but no whole-bucket rule removes expired delete markers")
        for r in markers:
            need("ExpirationInDays" not in r and "ExpirationDate" not in r,
                 f"{bid} rule {r.get('Id')}: ExpiredObjectDeleteMarker cannot share a rule with an expiration")
        said.append(f"{bid}: no transition that cannot apply; noncurrent versions expire "
                    f"({nonc[0].get('Id')}), delete markers removed ({markers[0].get('Id')})")
    return "; ".join(said)


# ------------------------------------------------------------------ item 14
def user_data_script(t):
    lts = resources(t, "AWS::EC2::LaunchTemplate")
    need(len(lts) == 1, f"want one launch template, found {sorted(lts)}")
    ud = props(next(iter(lts.values())))["LaunchTemplateData"]["UserData"]
    need(isinstance(ud, dict) and "Fn::Base64" in ud, "UserData is not Fn::Base64")
    values = dict(TEST_VALUES, RpmSha256=hashlib.sha256(FAKE_RPM).hexdigest())
    script = render_sub(t, sub_text(ud["Fn::Base64"]), values)
    # EC2 takes at most 16 KB of user data before base64 encoding.
    need(len(script.encode()) <= 16 * 1024, f"the user data is {len(script.encode())} bytes, over 16 KB")
    return script


STUBS = {
    # Logs every call; `enable --now` and `daemon-reload` succeed.
    "systemctl": 'echo "systemctl $*" >> "$ROOT/calls.log"\n',
    "dnf": 'echo "dnf $*" >> "$ROOT/calls.log"\n',
    # Only the 5 s waits between journal reads: no real time passes.
    "sleep": 'echo "sleep $*" >> "$ROOT/calls.log"\n',
    # Writes the stand-in RPM where -o says.
    "curl": 'while [ $# -gt 0 ]; do [ "$1" = -o ] && out=$2; shift; done\n'
            'printf "not really an rpm\\n" > "$out"\n',
    "cfn-signal": 'echo "$*" >> "$ROOT/signals.log"\n',
    # The daemon's journal: a record acknowledged early, then JOURNAL_LINES more lines, as
    # a busy daemon's journal has; a reader that stops early makes this die of SIGPIPE.
    "journalctl": 'case " $* " in *" -n "*) echo "bookstream: tail line"; exit 0;; esac\n'
                  'echo "bookstream: starting"\n'
                  'echo "record sent: upc a897fe39b1053632 seq 1 shard shardId-000000000000 (attempt 1)"\n'
                  'yes "bookstream: cycle done" | head -n "$JOURNAL_LINES"\n',
}


def run_user_data(t, repo, journal_lines, cfn_signal_in_opt):
    """Runs the rendered user data in a temp root; returns (exit code, signals, output, root)."""
    script = user_data_script(t)
    root = Path(tempfile.mkdtemp(prefix="bookstream-userdata-"))
    bindir = root / "bin"
    bindir.mkdir()
    for name, body in STUBS.items():
        f = bindir / name
        f.write_text("#!/bin/bash\n" + body)
        f.chmod(0o755)
    (root / "var/log").mkdir(parents=True)
    (root / "etc/bookstream").mkdir(parents=True)
    shutil.copy(repo / "config/bookstream.toml", root / "etc/bookstream/bookstream.toml")
    # The fixed paths the script writes or runs, moved under the temp root. /opt/aws/bin is
    # the stubs' directory, or (to show cfn-signal is found on PATH) a directory that is empty.
    opt = bindir if cfn_signal_in_opt else root / "opt/aws/bin"
    opt.mkdir(parents=True, exist_ok=True)
    for old, new in (("/var/log/", f"{root}/var/log/"), ("/etc/bookstream/", f"{root}/etc/bookstream/"),
                     ("/tmp/bookstream.rpm", f"{root}/bookstream.rpm"), ("/opt/aws/bin", str(opt))):
        need(old in script, f"the user data no longer mentions {old}; update this checker")
        script = script.replace(old, new)
    (root / "user-data.sh").write_text(script)
    env = {"PATH": f"{bindir}:/usr/bin:/bin", "HOME": str(root), "ROOT": str(root),
           "JOURNAL_LINES": str(journal_lines), "LANG": "C"}
    try:
        proc = subprocess.run(["bash", str(root / "user-data.sh")], env=env, cwd=root,
                              capture_output=True, text=True, timeout=120)
    except subprocess.TimeoutExpired:
        raise CheckFailed(f"the user data did not finish within 120 s (temp root {root})")
    sig = root / "signals.log"
    signals = sig.read_text().splitlines() if sig.exists() else []
    return proc.returncode, signals, proc.stdout + proc.stderr, root


def check_user_data_sigpipe(t, repo):
    """A long journal with the record near its start: a reader that stops at the first match
    makes journalctl die of SIGPIPE, and under pipefail that must not count as 'not found'."""
    code, signals, out, root = run_user_data(t, repo, journal_lines=200000, cfn_signal_in_opt=True)
    tail = out.strip().splitlines()[-3:]
    need(code == 0 and signals and signals[-1].startswith("-e 0 "),
         f"a deploy whose first record was acknowledged failed: exit {code}, cfn-signal calls "
         f"{signals[-1:] or 'none'}, last output {tail}")
    conf = (root / "etc/bookstream/bookstream.toml").read_text()
    need('stream_name = "test-stream"' in conf and 'region = "eu-west-1"' in conf,
         "the user data did not point [kinesis] at the stack's stream and region")
    shutil.rmtree(root)
    return f"exit 0, signalled {signals[-1].split(' -r ')[0]!r} with a 200000-line journal"


def check_user_data_cfn_signal_on_path(t, repo):
    """cfn-signal only on PATH (nothing in /opt/aws/bin): the deploy must still be signalled."""
    code, signals, out, root = run_user_data(t, repo, journal_lines=2, cfn_signal_in_opt=False)
    need(code == 0 and signals and signals[-1].startswith("-e 0 "),
         f"cfn-signal on PATH only: exit {code}, cfn-signal calls {signals or 'none'} "
         f"(the stack would wait for its 15-minute timeout and roll back)")
    shutil.rmtree(root)
    return "signalled success with cfn-signal found on PATH only"


# ------------------------------------------------------------------ item 8
def refresh_seconds(repo):
    text = (repo / "config/bookstream.toml").read_text()
    m = re.search(r'^\[site\][^\[]*?^refresh\s*=\s*"(\d+)(s|m|h)"', text, re.M | re.S)
    need(m, "config/bookstream.toml: no [site] refresh = \"<n>s|m|h\"")
    return int(m.group(1)) * {"s": 1, "m": 60, "h": 3600}[m.group(2)]


def check_daemon_alarms(t, repo):
    dims = daemon_dimensions(t)
    need(dims == [{"Name": "StreamName", "Value": {"Ref": "StreamName"}}],
         f"the daemon alarms' dimensions are {dims}, the daemon publishes StreamName = the stream it is configured with")
    topics = alarm_topics(t)
    said = []
    for metric in ("RecordsNotSent", "CycleErrors"):
        name, a = find_alarm(t, "bookstream", metric)
        p = props(a)
        need(p.get("Dimensions") == dims, f"{name}: dimensions {p.get('Dimensions')} differ from {dims}")
        need(p.get("Statistic") == "Sum" and float(p["Threshold"]) == 0
             and p.get("ComparisonOperator") == "GreaterThanThreshold",
             f"{name}: want Sum > 0, got {p.get('Statistic')} {p.get('ComparisonOperator')} {p.get('Threshold')}")
        periods = int(p["EvaluationPeriods"])
        need(periods >= 2 and int(p.get("DatapointsToAlarm", periods)) == periods,
             f"{name}: want several consecutive periods, got {periods} / {p.get('DatapointsToAlarm')}")
        need(notifies(t, a, topics), f"{name}: notifies no topic")
        said.append(f"{name}: {metric} Sum > 0 for {periods} x {p['Period']} s")
    name, a = find_alarm(t, "bookstream", "CatalogueAge")
    p = props(a)
    need(p.get("Dimensions") == dims, f"{name}: dimensions {p.get('Dimensions')} differ from {dims}")
    need(p.get("Statistic") == "Maximum" and p.get("ComparisonOperator") == "GreaterThanThreshold",
         f"{name}: want Maximum > threshold")
    param = ref_name(p["Threshold"])
    need(param in t.get("Parameters", {}), f"{name}: the threshold is not a parameter ({p['Threshold']!r})")
    default = float(t["Parameters"][param]["Default"])
    refresh = refresh_seconds(repo)
    need(2 * refresh <= default <= 10 * refresh,
         f"{name}: default {default:.0f} s is not a few refresh periods ({refresh} s)")
    need(notifies(t, a, topics), f"{name}: notifies no topic")
    said.append(f"{name}: Maximum > {param} (default {default:.0f} s = {default / refresh:g} x refresh)")
    shown = {m for ns, m, d in dashboard_rows(t)
             if ns == "bookstream" and d == {"StreamName": TEST_VALUES["StreamName"]}}
    missing = {"RecordsNotSent", "CycleErrors", "CatalogueAge"} - shown
    need(not missing, f"the dashboard does not show {sorted(missing)} (with StreamName)")
    return "; ".join(said) + "; all on the dashboard"


# ------------------------------------------------------------------ the daemon's side
def check_metrics_contract(t, repo):
    """Every bookstream metric and dimension the template uses is a string in the daemon's
    metrics code (src/metrics.rs, or src/metrics/ once it is split)."""
    files = [repo / "src/metrics.rs"] + sorted((repo / "src/metrics").rglob("*.rs"))
    source = "".join(f.read_text() for f in files if f.exists())
    need(source, "src/metrics.rs (or src/metrics/) not found")
    used = {}
    for aid, a in alarms(t).items():
        p = props(a)
        if p.get("Namespace") == "bookstream":
            used.setdefault(p["MetricName"], set()).add(aid)
            for d in p.get("Dimensions", []):
                used.setdefault(d["Name"], set()).add(aid)
    for ns, m, d in dashboard_rows(t):
        if ns == "bookstream":
            used.setdefault(m, set()).add("Dashboard")
            for k in d:
                used.setdefault(k, set()).add("Dashboard")
    missing = {n: sorted(w) for n, w in used.items() if f'"{n}"' not in source}
    need(not missing, "used by the template, not published by the daemon: " +
         ", ".join(f"{n} ({', '.join(w)})" for n, w in sorted(missing.items())))
    return f"{len(used)} names, all in the daemon's metrics code"


CHECKS = {
    "alarm-topic-key": check_alarm_topic_key,
    "stream-reader-alarm": check_stream_reader_alarm,
    "bucket-lifecycle": check_bucket_lifecycle,
    "user-data-sigpipe": check_user_data_sigpipe,
    "user-data-cfn-signal-path": check_user_data_cfn_signal_on_path,
    "daemon-alarms": check_daemon_alarms,
    "metrics-contract": check_metrics_contract,
}


def main():
    repo_default = Path(__file__).resolve().parents[2]
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--template", default=str(repo_default / "packaging/cloudformation.yaml"))
    ap.add_argument("--repo", default=str(repo_default), help="where config/ and src/metrics.rs are")
    ap.add_argument("--only", action="append", choices=sorted(CHECKS))
    args = ap.parse_args()
    t = load(args.template)
    failed = 0
    for name in args.only or CHECKS:
        try:
            print(f"PASS {name}: {CHECKS[name](t, Path(args.repo))}")
        except CheckFailed as e:
            failed += 1
            print(f"FAIL {name}: {e}")
    print(f"{args.template}: {len(args.only or CHECKS) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
