"""How well a dataset speaks its framework: the HEARTHWOOD example beside bundled STARWEAVE.

Builds the example recipe ``examples/frameworks/hearthwood/recipe.toml`` (a second framework
of seven concepts, ``replace_glossary = true``, shaped by its formative pattern) and the
bundled default recipe, and prints for each (see :mod:`glimmer.data.grounding`):

* STARWEAVE mentions: records naming STARWEAVE or one of its concepts that the recipe's own
  glossary does not define (must be 0 for HEARTHWOOD);
* grounded share: concept sentences that say something from their own glossary entry;
* distinct-sentence share: distinct answer sentences over all answer sentences;
* for the shaped dataset, the share of framework answers that end with one question, as its
  formative pattern's response format asks.

Run: ``python benchmarks/framework_data.py [--recipe RECIPE.toml] [--seed N] [--json]``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from glimmer.data import Recipe, build, default_recipe, framework_figures
from glimmer.data.shaping import SHAPED_CATEGORIES

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "frameworks" / "hearthwood" / "recipe.toml"


def measure(recipe: Recipe, seed: int) -> dict[str, object]:
    """Build *recipe* and return its framework figures."""
    start = time.perf_counter()
    splits = build(recipe, seed=seed)
    records = splits.all
    glossary = recipe.active_glossary()
    figures = framework_figures(records, glossary).as_dict()
    shaped = [r for r in records if r.category in SHAPED_CATEGORIES]
    question = sum(r.answer.rstrip().endswith("?") for r in shaped) / max(len(shaped), 1)
    return {
        "recipe": recipe.name,
        "framework": glossary.name,
        "formative_matrix": Path(recipe.formative_matrix).name if recipe.formative_matrix else "",
        **figures,
        "shaped_answers_ending_with_a_question": round(question, 4),
        "build_s": round(time.perf_counter() - start, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--recipe", type=Path, default=EXAMPLE, help="the framework's recipe")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args()

    rows = [measure(Recipe.load(args.recipe), args.seed), measure(default_recipe(), args.seed)]
    if args.json:
        print(json.dumps(rows, indent=2))
        return
    for row in rows:
        print(
            f"{row['framework']} ({row['recipe']}"
            + (f", formative matrix {row['formative_matrix']}" if row["formative_matrix"] else "")
            + f"): {row['records']} records, built in {row['build_s']} s"
        )
        print(f"  STARWEAVE mentions:           {row['foreign_mentions']}")
        print(
            f"  grounded concept sentences:   {row['grounded_share']:.1%} "
            f"({row['grounded_sentences']} of {row['concept_sentences']})"
        )
        print(
            f"  distinct answer sentences:    {row['distinct_share']:.1%} "
            f"({row['distinct_sentences']} of {row['sentences']})"
        )
        print(f"  framework answers ending '?': {row['shaped_answers_ending_with_a_question']:.1%}")


if __name__ == "__main__":
    main()
