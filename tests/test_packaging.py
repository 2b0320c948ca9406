"""Packaging (issue 14): setup.cfg declares every distribution the code imports, and the wheel alone is a
working app (.ci/check_wheel: build, install in a fresh virtualenv, run outside the checkout)."""
import ast
import configparser
import importlib.metadata
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OWN_MODULES = {"crowdfund", "config", "wsgi"}
# Extras that are tools around the code, not part of it: an import only they declare is undeclared.
TOOL_EXTRAS = {"test", "audit"}


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _requirement_names(value: str) -> set[str]:
    names = set()
    for line in value.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            names.add(_normalise(re.match(r"[A-Za-z0-9._-]+", line).group()))
    return names


def declared_distributions() -> dict[str, set[str]]:
    """{"install_requires": names, "extra <name>": names} from setup.cfg, names normalised."""
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(ROOT / "setup.cfg")
    declared = {"install_requires": _requirement_names(parser["options"]["install_requires"])}
    for extra, value in parser["options.extras_require"].items():
        if extra not in TOOL_EXTRAS:
            declared[f"extra {extra}"] = _requirement_names(value)
    return declared


def _code_files() -> list[Path]:
    files = [path for path in (ROOT / "crowdfund").rglob("*.py") if "__pycache__" not in path.parts]
    return sorted(files) + [ROOT / "config.py", ROOT / "wsgi.py"]


def imported_modules() -> dict[str, set[str]]:
    """{top-level module: files importing it} over crowdfund/, config.py and wsgi.py: every absolute import
    at any depth (function-level ones too) and importlib.import_module("literal")."""
    imported: dict[str, set[str]] = {}
    for path in _code_files():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module]
            elif (isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", None)) ==
                  "import_module" and node.args and isinstance(node.args[0], ast.Constant)
                  and isinstance(node.args[0].value, str) and not node.args[0].value.startswith(".")):
                names = [node.args[0].value]
            else:
                continue
            for name in names:
                imported.setdefault(name.split(".")[0], set()).add(str(path.relative_to(ROOT)))
    return imported


def test_every_imported_distribution_is_declared_in_setup_cfg():
    declared = declared_distributions()
    everywhere = set().union(*declared.values())
    providers = importlib.metadata.packages_distributions()
    problems = []
    for module, files in sorted(imported_modules().items()):
        if module in sys.stdlib_module_names or module in OWN_MODULES:
            continue
        distributions = {_normalise(name) for name in providers.get(module, [])}
        where = ", ".join(sorted(files)[:3]) + (" …" if len(files) > 3 else "")
        if not distributions:
            problems.append(f"{module} (imported in {where}) is provided by no installed distribution")
        elif not distributions & everywhere:
            problems.append(f"{' or '.join(sorted(distributions))} (module {module}, imported in {where}) "
                            "is not declared in setup.cfg")
    assert not problems, "\n".join(problems)


def test_the_import_scan_sees_function_level_imports_and_the_known_distributions():
    imported = imported_modules()
    # itsdangerous, markupsafe and click are imported directly although Flask brings them;
    # localstripe only inside functions of the Stripe stand-in.
    for module in ("flask", "itsdangerous", "markupsafe", "click", "dotenv", "localstripe"):
        assert module in imported, module
    declared = declared_distributions()
    assert {"jinja2", "markupsafe", "itsdangerous", "click", "flask"} <= declared["install_requires"]
    assert "localstripe" in declared["extra standin"]


def _import_config_from(folder: Path, cwd: Path) -> list[str]:
    """config.py imported from folder with cwd as the working directory: BASE_DIR, INSTANCE_DIR, SECRET_KEY."""
    code = "import config; print(config.BASE_DIR); print(config.Config.INSTANCE_DIR); print(config.Config.SECRET_KEY)"
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(folder)}
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True,
                          check=True).stdout.splitlines()


def test_config_keeps_env_and_instance_next_to_a_checkout_else_in_the_working_directory(tmp_path):
    checkout, installed, elsewhere = tmp_path / "checkout", tmp_path / "site-packages", tmp_path / "run"
    for folder in (checkout, installed):
        folder.mkdir()
        (folder / "config.py").write_text((ROOT / "config.py").read_text())
    (checkout / "setup.cfg").write_text("[metadata]\nname = crowdfund\n")
    (checkout / ".env").write_text("SECRET_KEY=the-checkout-dotenv\n")
    elsewhere.mkdir()
    (elsewhere / ".env").write_text("SECRET_KEY=the-working-directory-dotenv\n")

    assert _import_config_from(checkout, elsewhere) == [
        str(checkout), str(checkout / "instance"), "the-checkout-dotenv"]
    assert _import_config_from(installed, elsewhere) == [
        str(elsewhere), str(elsewhere / "instance"), "the-working-directory-dotenv"]


def test_serve_says_where_gunicorn_conf_py_is_missing(tmp_path, monkeypatch, capsys):
    import config
    from crowdfund import serve

    assert serve.gunicorn_config() == config.BASE_DIR / "gunicorn.conf.py"  # the checkout's
    monkeypatch.setenv("CROWDFUND_ENV", "testing")  # main() would set production for the rest of this process
    monkeypatch.setattr(config, "BASE_DIR", tmp_path)

    def not_installed(name):
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "distribution", not_installed)
    assert serve.main(["--bind", "127.0.0.1:1"]) == 2
    assert f"gunicorn.conf.py was found neither in {tmp_path}" in capsys.readouterr().err


def test_the_wheel_alone_is_a_working_app():
    """.ci/check_wheel: about 25 s with pip's cache warm (build 1-2 s, venv and install 13 s, run 8 s)."""
    result = subprocess.run([sys.executable, str(ROOT / ".ci" / "check_wheel")], cwd=ROOT, capture_output=True,
                            text=True, timeout=900)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "the installed wheel works" in result.stdout
