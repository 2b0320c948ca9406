"""The import-layer contract (DESIGN §2, docs/architecture.md "Layers"): a lower layer never imports
a higher one, not even inside a function, and the money path's modules form no import cycle.

grimp (the graph import-linter is built on) reads every import statement, function-level ones
included. Every crowdfund module must be placed in a layer by the rules below, so a new module is
placed deliberately."""
import re
from itertools import combinations
from pathlib import Path

import grimp
import pytest

PACKAGE_DIR = Path(__file__).resolve().parent.parent / "crowdfund"

# Top to bottom. A module may import its own layer and any layer below it.
LAYERS = ("web", "settlement", "domain", "notifications", "models", "infrastructure")

# (layer, pattern on the dotted module name); the first matching rule wins.
RULES = [
    # Entry points and presentation: routes, forms, commands, jobs, the app factory, migrations.
    ("notifications", r"crowdfund\.notifications(\.(handlers|services))?"),
    ("web", r"crowdfund\.[a-z_]+\.(routes|account_routes|forms|commands)"),
    ("web", r"crowdfund(\.(cli|tasks|ticker|celery_app|serve|devserver|http_errors|page_cache|personal|warmup|demo))?"),
    ("web", r"crowdfund\.payments\.(stripe_standin|standin_connect)"),
    ("web", r"crowdfund\.dashboard(\.chart)?"),
    ("web", r"crowdfund\.payouts\.transparency"),
    ("web", r"crowdfund\.migrations(\..*)?"),
    # The only code below the web that commits.
    ("settlement", r"crowdfund\.settlement(\..*)?"),
    # Data: every model, and database.py, which puts every model on the metadata.
    ("models", r"crowdfund\.[a-z_]+\.models"),
    ("models", r"crowdfund\.database"),
    # Infrastructure: imports nothing of the features.
    ("infrastructure", r"crowdfund\.payments\.gateway"),
    ("infrastructure", r"crowdfund\.media\.(storage|processing|video)"),
    ("infrastructure", r"crowdfund\.(outbox|unit_of_work|money|extensions|clock|errors|templating"
                       r"|markdown|i18n|logs|converters|forms|redirects)"),
    # Domain features (services and their helpers).
    ("domain", r"crowdfund\.(campaigns|pledges|payouts|updates|comments|media|moderation|accounts"
               r"|payments|dashboard|discovery|credit|risk)(\..*)?"),
]

# The modules of the import cycle issue 14 removed; none may reach another and be reached back.
ACYCLIC = ("crowdfund.campaigns.lifecycle", "crowdfund.settlement.charging",
           "crowdfund.settlement.refunds", "crowdfund.pledges.services", "crowdfund.tasks",
           "crowdfund.ticker")



def layer_of(module: str) -> str | None:
    for layer, pattern in RULES:
        if re.fullmatch(pattern, module):
            return layer
    return None


@pytest.fixture(scope="module")
def graph():
    # The feature folders without __init__.py are namespace portions; grimp needs them named.
    portions = sorted(
        ".".join(("crowdfund",) + path.relative_to(PACKAGE_DIR).parts)
        for path in PACKAGE_DIR.rglob("*")
        if path.is_dir() and "__pycache__" not in path.parts and any(path.glob("*.py"))
        and not (path / "__init__.py").exists())
    return grimp.build_graph("crowdfund", *portions, cache_dir=None)


def test_every_source_file_is_in_the_graph(graph):
    files = {".".join(("crowdfund",) + path.relative_to(PACKAGE_DIR).with_suffix("").parts)
             .removesuffix(".__init__") for path in PACKAGE_DIR.rglob("*.py")}
    files = {name for name in files if name.split(".")[-1] != "__pycache__"}
    assert files - graph.modules == set()


def test_every_module_is_placed_in_a_layer(graph):
    assert sorted(m for m in graph.modules if layer_of(m) is None) == []


def test_no_layer_imports_a_higher_one(graph):
    violations = []
    for importer in sorted(graph.modules):
        importer_rank = LAYERS.index(layer_of(importer) or "web")
        for imported in sorted(graph.find_modules_directly_imported_by(importer)):
            imported_layer = layer_of(imported)
            if imported_layer is None or LAYERS.index(imported_layer) >= importer_rank:
                continue
            for detail in graph.get_import_details(importer=importer, imported=imported) or [{}]:
                violations.append(
                    f"{importer} ({LAYERS[importer_rank]}) imports {imported} ({imported_layer})"
                    f" at line {detail.get('line_number', '?')}: {detail.get('line_contents', '')}")
    assert violations == [], "\n".join(violations)


def test_no_import_cycle_among_the_money_path_and_jobs(graph):
    modules = ACYCLIC + tuple(sorted(m for m in graph.modules
                                     if m.startswith("crowdfund.notifications.")))
    cycles = []
    for a, b in combinations(modules, 2):
        there = graph.find_shortest_chain(importer=a, imported=b)
        back = graph.find_shortest_chain(importer=b, imported=a)
        if there and back:
            cycles.append(" -> ".join(there) + "  and back  " + " -> ".join(back))
    assert cycles == [], "\n".join(cycles)
