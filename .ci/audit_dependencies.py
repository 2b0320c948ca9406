"""Known vulnerabilities in the installed Python packages, from the vulnerability data PyPI serves
(the OSV database), for `.ci/audit`. Exits non-zero on any known vulnerability and on anything it
could not check: an audit that could not look is not a pass.

pip-audit asks PyPI about each installed release (https://pypi.org/pypi/NAME/VERSION/json) and
skips a package PyPI answers 404 for -- then reports "No known vulnerabilities found" and exits 0.
So, first, one such request for a release that certainly exists (pip-audit's own):

1. PyPI answers it: pip-audit runs with --strict (a package it cannot audit fails the run).
2. PyPI answers 404 but serves the per-project document (https://pypi.org/pypi/NAME/json), as the
   PyPI that this project's machines reach does: that document is the latest release with that
   release's known vulnerabilities, the same list pip-audit would get for it. Each package installed
   at its latest release is audited from it. A package below its latest release cannot be audited
   here: when the latest release is out of reach (another installed package's requirement, or its
   Python requirement, excludes it) it is listed as NOT audited, with the reason; otherwise the run
   fails, saying to upgrade it.
3. Anything else (no answer, an error) fails the run.
"""
import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from importlib import metadata

from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version

PYPI = "https://pypi.org/pypi"
TIMEOUT_SECONDS = 20
ATTEMPTS = 3
PARALLEL = 16


class Unreachable(Exception):
    """PyPI did not answer, or answered with an error other than 404."""


def get_json(url: str) -> dict | None:
    """The JSON document at url; None for a 404; Unreachable after ATTEMPTS tries otherwise."""
    for attempt in range(1, ATTEMPTS + 1):
        try:
            with urllib.request.urlopen(url, timeout=TIMEOUT_SECONDS) as answer:
                return json.load(answer)
        except urllib.error.HTTPError as error:
            if error.code == 404:
                return None
            problem = f"HTTP {error.code}"
        except (OSError, ValueError) as error:
            problem = repr(error)
        if attempt < ATTEMPTS:
            time.sleep(attempt)
    raise Unreachable(f"{url}: {problem}")


def installed() -> dict[str, metadata.Distribution]:
    """Every installed distribution but editable ones (the project itself), by canonical name."""
    found = {}
    for dist in metadata.distributions():
        direct_url = dist.read_text("direct_url.json")
        if direct_url and json.loads(direct_url).get("dir_info", {}).get("editable"):
            continue
        found[canonicalize_name(dist.metadata["Name"])] = dist
    return found


def why_held_back(name: str, latest: str, requires_python: str | None, dists) -> str | None:
    """What keeps the latest release of `name` from being installed here, if anything."""
    python = ".".join(map(str, sys.version_info[:3]))
    if requires_python and python not in SpecifierSet(requires_python):
        return f"its latest release needs Python {requires_python}"
    for dist in dists.values():
        for line in dist.requires or []:
            try:
                requirement = Requirement(line)
            except InvalidRequirement:
                continue
            if canonicalize_name(requirement.name) != name:
                continue
            if requirement.marker is not None and not requirement.marker.evaluate({"extra": ""}):
                continue
            if requirement.specifier and not requirement.specifier.contains(latest, prereleases=True):
                return f"{dist.metadata['Name']} requires {requirement}"
    return None


def audit_from_project_documents(dists) -> int:
    def look_up(name):
        return name, get_json(f"{PYPI}/{name}/json")

    with ThreadPoolExecutor(PARALLEL) as pool:
        documents = dict(pool.map(look_up, sorted(dists)))
    vulnerable, not_on_pypi, outdated, held_back, audited = [], [], [], [], 0
    for name, document in documents.items():
        version = dists[name].version
        if document is None:
            not_on_pypi.append(f"{name} {version}")
            continue
        latest = document["info"]["version"]
        if Version(latest) != Version(version):
            reason = why_held_back(name, latest, document["info"].get("requires_python"), dists)
            (held_back if reason else outdated).append(f"{name} {version} (latest {latest})"
                                                        + (f": {reason}" if reason else ""))
            continue
        audited += 1
        for vulnerability in document.get("vulnerabilities") or []:
            if vulnerability.get("withdrawn"):
                continue
            ids = ", ".join([vulnerability["id"], *vulnerability.get("aliases", [])])
            fixed = ", ".join(vulnerability.get("fixed_in") or []) or "no fixed release yet"
            summary = (vulnerability.get("summary") or vulnerability.get("details") or "").split("\n")[0][:160]
            vulnerable.append(f"{name} {version}: {ids} (fixed in {fixed}) {summary}")

    print(f"Audited {audited} of {len(dists)} installed packages (those at their latest release) against "
          "the vulnerability data of PyPI's per-project documents.")
    if held_back:
        print(f"NOT audited, {len(held_back)} held below their latest release (PyPI here gives vulnerability "
              "data for the latest release only):")
        print("".join(f"  {line}\n" for line in held_back), end="")
    failed = False
    for title, lines in (("KNOWN VULNERABILITIES", vulnerable),
                         ("NOT on PyPI, so not audited", not_on_pypi),
                         ("NOT audited: below their latest release with nothing holding them back; "
                          "upgrade them (.venv/bin/pip install --upgrade NAME)", outdated)):
        if lines:
            failed = True
            print(f"{title}:", file=sys.stderr)
            print("".join(f"  {line}\n" for line in lines), end="", file=sys.stderr)
    if not failed:
        print("No known vulnerabilities in the audited packages.")
    return 1 if failed else 0


def main() -> int:
    dists = installed()
    probe = dists["pip-audit"]
    try:
        if get_json(f"{PYPI}/pip-audit/{probe.version}/json") is not None:
            print("PyPI answers per-release queries: pip-audit --strict")
            return subprocess.call([sys.executable, "-m", "pip_audit", "--strict", "--skip-editable",
                                    "--progress-spinner", "off", "--desc", "on"])
        if get_json(f"{PYPI}/pip-audit/json") is None:
            raise Unreachable(f"{PYPI}/pip-audit/json: 404")
        print(f"PyPI answers 404 for a release that exists ({PYPI}/pip-audit/{probe.version}/json), so pip-audit "
              "would skip every package and pass; auditing from the per-project documents instead.")
        return audit_from_project_documents(dists)
    except Unreachable as error:
        print(f"PyPI's vulnerability data could not be had, so nothing was audited: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
