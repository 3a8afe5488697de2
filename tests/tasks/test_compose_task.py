"""Named energies, concepts and the compose task, on 2-D points whose two label columns are quadrant halves."""

from __future__ import annotations

import json

import attrs
import pytest
import torch
from attrs import frozen

from energyflow import TensorData, hookimpl
from energyflow.compose.concepts import LabelCoding
from energyflow.errors import RecipeError, RunError
from energyflow.recipe import parse_recipe
from energyflow.runtime import Run
from energyflow.testing import inline_plugin


@frozen(kw_only=True)
class QuadrantsSpec:
    """Points around (+-1, +-1); columns right (x > 0) and up (y > 0)."""

    n: int = 2000

    def build(self, ctx):
        def split(n, seed):
            g = torch.Generator().manual_seed(seed)
            signs = torch.randint(0, 2, (n, 2), generator=g)
            x = (signs.float() * 2 - 1) + 0.15 * torch.randn(n, 2, generator=g)
            return x.clamp(-2, 2), signs.float()

        train, train_labels = split(self.n, 1)
        test, test_labels = split(500, 2)
        return TensorData(name="quadrants", train=train, test=test, train_labels=train_labels,
                          test_labels=test_labels, num_classes=2, value_range=(-2.0, 2.0), kind="points",
                          class_names=("right", "up"))


class Quadrants:
    @hookimpl
    def register_datasets(self, register):
        register("quadrants", QuadrantsSpec)


RECIPE = """
[run]
seed = 0
threads = 1

[data]
kind = "quadrants"

[energy]
kind = "mlp"
hidden = [32, 32]
conditional = true

[energies.right]
labels = ["right"]

[energies.up]
labels = ["up"]

[energies.joint]
labels = ["right", "up"]
drop = 0.5

[concepts]
right = { energy = "right", right = 1 }
up = { energy = "up", up = true }
joint_right = { energy = "joint", right = 1 }

[classifier]
iterations = 150
batch_size = 64
lr = 0.01

[sampler]
kind = "langevin"
steps = 30
step_size = 0.05
noise = 0.01
grad_clip = "none"

[buffer]
kind = "replay"
capacity = 1000
reinit_prob = 0.05

[[regularizers]]
kind = "l2_energy"
weight = 0.1

[train]
iterations = 150
batch_size = 64
lr = 0.003

[task]
kind = "compose"
expressions = ["right", "right & up", "right & ~up", "0.5*right | up", "joint_right"]
samples = 200
steps = 200
groups = { both = ["right & up", "right & ~up"] }
"""


@pytest.fixture
def quadrants():
    with inline_plugin(Quadrants()):
        yield


def test_recipe_validates_named_tables_and_expressions(quadrants):
    recipe = parse_recipe(RECIPE, source="q.toml")
    assert [e.name for e in recipe.energies] == ["right", "up", "joint"]
    assert [(c.name, c.energy, c.values) for c in recipe.concepts][1] == ("up", "up", {"up": 1})
    again = parse_recipe(recipe.to_toml(), source="resolved.toml")  # the resolved recipe reads back the same
    assert again.to_dict() == recipe.to_dict()
    with pytest.raises(RecipeError, match=r"q.toml \(--set task.expressions=\[\"rihgt & up\"\]\): "
                                          r"task.expressions\[0\] = 'rihgt & up': unknown concept 'rihgt'; "
                                          r"did you mean 'right'\?"):
        parse_recipe(RECIPE, source="q.toml", overrides=['task.expressions=["rihgt & up"]', "task.groups={}"])
    with pytest.raises(RecipeError, match=r"task.expressions = .*expressions\[0\]: a call is not allowed"):
        parse_recipe(RECIPE, source="q.toml", overrides=['task.expressions=["f(right)"]', "task.groups={}"])


def test_label_coding_tells_present_absent_and_unobserved_apart(quadrants):
    data = QuadrantsSpec(n=50).build(None)
    both = LabelCoding.of(data, ("right", "up"))
    assert not both.as_class and both.width == 4
    present, absent, unobserved = both.encode({"right": 1}), both.encode({"right": 0}), both.encode({})
    assert present.tolist() == [[0, 1, 0, 0]] and absent.tolist() == [[1, 0, 0, 0]]
    assert unobserved.tolist() == [[0, 0, 0, 0]]
    one = LabelCoding.of(data, ("up",))
    assert one.as_class and one.encode({"up": 1}).item() == 1
    assert torch.equal(one.view(data).train_labels, data.train_labels[:, 1].long())
    dropped = both.drop(both.view(data).train_labels, 0.5, torch.Generator().manual_seed(0))
    blocks = dropped.reshape(-1, 2, 2).sum(-1)  # 1 where the column is observed, 0 where hidden
    assert set(blocks.unique().tolist()) == {0.0, 1.0} and 0.3 < float((blocks == 0).float().mean()) < 0.7
    with pytest.raises(ValueError, match="no label column 'left'"):
        LabelCoding.of(data, ("left",))


def test_compose_run_samples_what_it_is_asked(quadrants, tmp_path):
    recipe = parse_recipe(RECIPE, source="q.toml")
    run = Run(recipe, out_dir=tmp_path / "run", quiet=True)
    metrics = run.execute()
    assert (tmp_path / "run" / "compose.png").stat().st_size > 0
    assert (tmp_path / "run" / "energies" / "right" / "checkpoint.pt").exists()
    assert (tmp_path / "run" / "classifier" / "classifier.pt").exists()
    assert json.loads((tmp_path / "run" / "metrics.json").read_text()) == metrics
    assert metrics["classifier_accuracy[right]"] > 0.95 and metrics["classifier_accuracy[up]"] > 0.95
    assert metrics["satisfied[right]"] > 0.9
    assert metrics["satisfied[right & up]"] > 0.8
    assert metrics["satisfied[right & up][up]"] >= metrics["satisfied[right & up]"]
    assert metrics["satisfied[right & ~up]"] > 0.8
    assert metrics["satisfied[0.5*right | up]"] > 0.8
    assert metrics["satisfied[joint_right]"] > 0.8
    both = (metrics["satisfied[right & up]"] + metrics["satisfied[right & ~up]"]) / 2
    assert metrics["satisfied_mean[both]"] == pytest.approx(both)


def test_step_size_is_divided_by_the_number_of_terms(quadrants, tmp_path, monkeypatch):
    from energyflow.tasks import context

    seen = []
    real = context.TaskContext.sample

    def spy(self, energy, x0, *args, **kwargs):
        seen.append((kwargs.get("description"), self.sampler.step_size))
        return real(self, energy, x0, *args, **kwargs)

    monkeypatch.setattr(context.TaskContext, "sample", spy)
    fast = ["train.iterations=2", "classifier.iterations=2", "task.steps=2", "task.samples=4"]
    recipe = parse_recipe(RECIPE, source="q.toml", overrides=fast)
    Run(recipe, out_dir=tmp_path / "a", quiet=True).execute()
    assert seen == [("compose right", 0.05), ("compose right & up", 0.025), ("compose right & ~up", 0.025),
                    ("compose 0.5*right | up", 0.025), ("compose joint_right", 0.05)]
    seen.clear()
    recipe = parse_recipe(RECIPE, source="q.toml", overrides=[*fast, "task.divide_step=false"])
    Run(recipe, out_dir=tmp_path / "b", quiet=True).execute()
    assert {size for _, size in seen} == {0.05}


def test_a_named_energy_loads_from_an_earlier_run(quadrants, tmp_path):
    fast = ["train.iterations=3", "task.steps=2", "task.samples=4", "task.expressions=[\"right & up\"]", "task.groups={}"]
    recipe = parse_recipe(RECIPE, source="q.toml", overrides=[*fast, "classifier.iterations=2"])
    Run(recipe, out_dir=tmp_path / "first", quiet=True).execute()
    first = tmp_path / "first" / "energies" / "right"
    reuse = [*fast, f'energies.right.checkpoint="{first}"', f'classifier.checkpoint="{tmp_path / "first" / "classifier"}"']
    run = Run(parse_recipe(RECIPE, source="q.toml", overrides=reuse), out_dir=tmp_path / "second", quiet=True)
    run.execute()
    assert not (tmp_path / "second" / "energies" / "right" / "checkpoint.pt").exists()  # loaded, not trained
    loaded, trained = run.named.energy("right"), torch.load(first / "checkpoint.pt", weights_only=True)
    assert all(torch.equal(p, trained["trainer"]["energy"][k]) for k, p in loaded.state_dict().items())


def test_an_energy_trains_on_its_own_data(quadrants, tmp_path):
    fast = ["train.iterations=2", "classifier.iterations=2", "task.steps=2", "task.samples=4",
            "energies.up.data={ n = 300 }", "classifier.data={ n = 200 }"]
    recipe = parse_recipe(RECIPE, source="q.toml", overrides=fast)
    assert recipe.energies[1].data.resolved == {"n": 300} and recipe.energies[0].data is None
    assert parse_recipe(recipe.to_toml(), source="resolved.toml").to_dict() == recipe.to_dict()
    run = Run(recipe, out_dir=tmp_path / "r", quiet=True)
    run.execute()
    assert run.named.dataset(recipe.energies[1].data).train.shape[0] == 300
    assert run.named.dataset(recipe.classifier.data).train.shape[0] == 200
    with pytest.raises(RecipeError, match=r"energies.up.data.m: unknown option of dataset 'quadrants'"):
        parse_recipe(RECIPE, source="q.toml", overrides=["energies.up.data={ m = 3 }"])


def test_bare_not_is_refused_with_the_reason(quadrants, tmp_path):
    from energyflow.errors import RunError

    fast = ["train.iterations=2", "task.steps=2", "task.samples=4", "task.expressions=[\"~right\"]", "task.groups={}"]
    run = Run(parse_recipe(RECIPE, source="q.toml", overrides=fast), out_dir=tmp_path / "r", quiet=True)
    with pytest.raises(RunError, match=r"cannot sample '~right': every term has a negative weight"):
        run.execute()


def test_a_concept_cannot_leave_a_column_unobserved_without_drop(quadrants):
    with pytest.raises(RecipeError, match=r"concepts.joint_right leaves up unobserved, but energy 'joint' was "
                                          r"trained with every label observed; .*energies.joint.drop > 0"):
        parse_recipe(RECIPE, source="q.toml", overrides=["energies.joint.drop=0.0"])


def test_unused_attrs_evolve_keeps_sampler_settings():
    from energyflow.samplers import Langevin

    s = Langevin(steps=7, step_size=2.0, noise=0.1)
    assert attrs.evolve(s, step_size=1.0).steps == 7


def test_resume_continues_each_named_energy_and_keeps_the_classifier(quadrants, tmp_path):
    fast = ["classifier.iterations=2", "task.steps=2", "task.samples=4"]
    out = tmp_path / "run"
    Run(parse_recipe(RECIPE, source="q.toml", overrides=[*fast, "train.iterations=3"]), out_dir=out, quiet=True).execute()
    classifier = (out / "classifier" / "classifier.pt").read_bytes()
    longer = parse_recipe(RECIPE, source="q.toml", overrides=[*fast, "train.iterations=5"])
    Run(longer, out_dir=out, quiet=True, resume=True).execute()
    for name in ("right", "up", "joint"):
        state = torch.load(out / "energies" / name / "checkpoint.pt", weights_only=True)
        assert state["step"] == 5
        steps = [json.loads(line)["step"] for line in (out / "energies" / name / "events.jsonl").read_text().splitlines()]
        assert steps == [3, 5]  # log_every = 10: each run's last step, the first run's kept
    assert (out / "classifier" / "classifier.pt").read_bytes() == classifier
    with pytest.raises(Exception, match=r"cannot resume .* the recipe changed energies"):
        changed = parse_recipe(RECIPE, source="q.toml", overrides=[*fast, "train.iterations=6", "energies.up.drop=0.5"])
        Run(changed, out_dir=out, quiet=True, resume=True).execute()


def test_a_sum_of_named_energies_trains_them_together(quadrants, tmp_path):
    sets = ['energies.both={ terms = ["right", "up"] }', 'concepts.right_up={ energy = "both", right = 1, up = 1 }',
            'concepts.up_only={ energy = "both", up = 1 }', "classifier.iterations=100", "task.groups={}",
            'task.expressions=["right & up", "right_up", "up_only", "right"]']
    recipe = parse_recipe(RECIPE, source="q.toml", overrides=sets)
    run = Run(recipe, out_dir=tmp_path / "run", quiet=True)
    metrics = run.execute()
    assert (tmp_path / "run" / "energies" / "both" / "checkpoint.pt").exists()
    assert not (tmp_path / "run" / "energies" / "right").exists()  # trained inside the sum, not alone
    both = run.named.energy("both")
    assert run.named.energy("right") is both.terms[0] and run.named.energy("up") is both.terms[1]
    x = torch.randn(5, 2)
    y = run.named.coding("both").encode({"right": 1, "up": 0}).expand(5, -1)
    torch.testing.assert_close(both(x, y=y), both.terms[0](x, y=torch.ones(5, dtype=torch.long))
                               + both.terms[1](x, y=torch.zeros(5, dtype=torch.long)))
    only_up = run.named.coding("both").encode({"up": 1}).expand(5, -1)  # right unobserved: its term drops out
    torch.testing.assert_close(both(x, y=only_up), both.terms[1](x, y=torch.ones(5, dtype=torch.long)))
    assert metrics["satisfied[right & up]"] > 0.8 and metrics["satisfied[right_up]"] > 0.8
    assert metrics["satisfied[up_only]"] > 0.8


@pytest.mark.parametrize(("extra", "message"), [
    (['energies.both={ terms = ["right", "nope"] }'], r"energies.both.terms: 'nope' is not another named energy"),
    (['energies.both={ terms = ["right", "up"], labels = ["up"] }'], r"energies.both.labels: a sum of terms"),
    (['energies.both={ terms = ["right", "up"] }', 'energies.two={ terms = ["up", "joint"] }'],
     r"'up' is already a term of energies.both"),
    (['energies.both={ terms = ["right", "up"] }', 'energies.right.checkpoint="x.pt"'],
     r"remove energies.right.checkpoint"),
    (['energies.right.labels="right"'], r'energies.right.labels = "right": expected an array of names'),
    (['concepts.right.energy="rigth"'], r"concepts.right.energy = \"rigth\": not a named energy \(an \[energies.NAME\] "
                                        r"table\); did you mean 'right'\?"),
    (['energies.both={ terms = ["right", "up"] }', 'concepts.none={ energy = "both" }'],
     r"concepts.none binds no column of the sum 'both'"),
    (['energies.both={ terms = ["right", "up"] }', 'concepts.half={ energy = "joint", right = 1 }',
      'concepts.bad={ energy = "both", right = 1, up = 1 }'], None),
])
def test_sum_validation(quadrants, extra, message):
    if message is None:
        parse_recipe(RECIPE, source="q.toml", overrides=extra)
        return
    with pytest.raises(RecipeError, match=message):
        parse_recipe(RECIPE, source="q.toml", overrides=extra)


def test_a_wrong_column_stops_the_run_before_any_training(quadrants, tmp_path):
    from energyflow.errors import RunError

    recipe = parse_recipe(RECIPE, source="q.toml", overrides=['energies.joint.labels=["right", "upp"]',
                                                              'concepts.joint_right={ energy = "right", right = 1 }'])
    with pytest.raises(RunError, match=r"energies.joint: dataset 'quadrants' has no label column 'upp'; its columns: "
                                       r"right, up"):
        Run(recipe, out_dir=tmp_path / "r", quiet=True).execute()
    assert not (tmp_path / "r" / "energies").exists()
    recipe = parse_recipe(RECIPE, source="q.toml", overrides=["concepts.right.right=2"])
    with pytest.raises(RunError, match=r"concepts.right: right = 2: expected a value in 0..1"):
        Run(recipe, out_dir=tmp_path / "s", quiet=True).execute()


def test_realism_scores_match_the_metric_on_each_row():
    """On images the task scores each row against the test split; satisfied_realistic needs both."""
    from types import SimpleNamespace

    from energyflow.metrics import realistic
    from energyflow.tasks.compose import ComposeTask

    g = torch.Generator().manual_seed(0)
    test = (torch.rand(200, 1, 1, 4, generator=g) * 0.2 + torch.tensor([0.0, 0.3, 0.6, 0.8])).clamp(0, 1)
    data = TensorData(name="bars", train=test, test=test, kind="image", value_range=(0.0, 1.0))
    ctx = SimpleNamespace(data=data, generator=torch.Generator().manual_seed(1))
    task = ComposeTask(expressions=("a", "b"), samples=20, quality_k=3, reference_size=150)
    near, far = test[20:40] + 0.01, torch.rand(20, 1, 1, 4, generator=g)
    sat = torch.arange(20) % 2 == 0
    metrics: dict[str, float] = {}
    real = task._realism(ctx, {"a": near, "b": far}, {"a": sat}, metrics)
    reference = test[20:170]
    assert torch.equal(real, test[:20])
    inside = realistic(near, reference, 3)
    assert metrics["realistic[a]"] == pytest.approx(float(inside.float().mean()))
    assert metrics["satisfied_realistic[a]"] == pytest.approx(float((inside & sat).float().mean()))
    assert metrics["satisfied_realistic[a]"] < metrics["realistic[a]"]  # half are unsatisfied
    assert "satisfied_realistic[b]" not in metrics
    assert metrics["realistic[a]"] > 0.8 > metrics["realistic[b]"]
    assert metrics["distance_ratio[a]"] < 0.2 < metrics["distance_ratio[b]"]
    assert metrics["realistic_of_data"] > 0.8 > metrics["realistic_of_noise"]


def test_judge_override_and_exclusive_shares_against_a_hand_count():
    """A concept's judge columns replace its values; exclusive asks every other judged column to be 0."""
    from types import SimpleNamespace

    from energyflow.compose import parse_tree
    from energyflow.compose.concepts import ConceptSpec
    from energyflow.tasks.compose import _shares

    concepts = {"at_a": ConceptSpec("at_a", "pos", {"position": 0}, {"cell_a": 1}),
                "at_b": ConceptSpec("at_b", "pos", {"position": 1}, {"cell_b": 1})}
    cells = torch.tensor([[1, 1, 0], [1, 1, 1], [1, 0, 0], [0, 1, 0], [1, 1, 0], [1, 1, 1]])
    predicted = {"cell_a": cells[:, 0], "cell_b": cells[:, 1], "cell_c": cells[:, 2]}
    judge = SimpleNamespace(predict=lambda x: predicted)
    named = SimpleNamespace(concept_spec=concepts.__getitem__)
    tree = parse_tree("at_a & at_b")
    loose, per_sample = _shares("at_a & at_b", tree, torch.zeros(6, 1), judge, named)
    assert loose["satisfied[at_a & at_b]"] == pytest.approx(4 / 6)  # rows 0, 1, 4, 5
    assert loose["satisfied[at_a & at_b][at_a]"] == pytest.approx(5 / 6)
    exact, per_sample = _shares("at_a & at_b", tree, torch.zeros(6, 1), judge, named, exclusive=True)
    assert exact["satisfied[at_a & at_b]"] == pytest.approx(2 / 6)  # rows 0 and 4: cell_c empty
    assert per_sample.tolist() == [True, False, False, False, True, False]
    alone, _ = _shares("at_a", parse_tree("at_a"), torch.zeros(6, 1), judge, named, exclusive=True)
    assert alone["satisfied[at_a]"] == pytest.approx(1 / 6)  # only row 2 holds cell_a and nothing else


def test_a_concept_judge_table_is_read_and_validated(quadrants):
    judged = 'concepts.right={energy="right", right=1, judge={up=0, right=1}}'
    recipe = parse_recipe(RECIPE, source="q.toml", overrides=[judged])
    right = next(c for c in recipe.concepts if c.name == "right")
    assert right.values == {"right": 1} and right.judged == {"up": 0, "right": 1}
    assert next(c for c in recipe.concepts if c.name == "up").judged == {"up": 1}
    with pytest.raises(RecipeError, match=r"concepts\.right\.judge\.up = -1: expected a label value"):
        parse_recipe(RECIPE, source="q.toml", overrides=['concepts.right={energy="right", right=1, judge={up=-1}}'])


def test_a_posterior_concept_is_minus_log_p_of_its_value_given_x(quadrants, tmp_path):
    """posterior = true: E(x | right = 1) + logsumexp over v of -E(x | right = v) = -log p(right = 1 | x)."""
    overrides = ["train.iterations=20", "classifier.iterations=2", 'task.expressions=["right_p"]', "task.groups={}",
                 'concepts.right_p={energy="right", right=1, posterior=true}',
                 'concepts.right_any={energy="right", marginal=true}']
    run = Run(parse_recipe(RECIPE, source="q.toml", overrides=overrides), out_dir=tmp_path / "run", quiet=True)
    run.execute()
    concepts = run.named.concepts(["right", "right_p"])
    net = run.named.energy("right")
    x = torch.randn(50, 2, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        e0, e1 = net(x, y=torch.zeros(50, dtype=torch.long)), net(x, y=torch.ones(50, dtype=torch.long))
        expected = e1 + torch.logsumexp(torch.stack([-e0, -e1]), dim=0)
        assert torch.allclose(concepts["right_p"](x), expected, atol=1e-5)
        assert torch.allclose(concepts["right"](x), e1, atol=1e-6)
        p_right = torch.sigmoid(e0 - e1)  # softmax over the two values of -E
        assert torch.allclose(torch.exp(-concepts["right_p"](x)), p_right, atol=1e-5)
        marginal = run.named.concepts(["right_any"])["right_any"](x)
        assert torch.allclose(marginal, -torch.logaddexp(-e0, -e1), atol=1e-5)  # p(x) = sum over values


def test_a_per_class_buffer_with_a_label_vector_energy_stops_before_training(quadrants, tmp_path):
    recipe = parse_recipe(RECIPE, source="q.toml", overrides=["buffer.per_class=true"])
    with pytest.raises(RunError, match=r"energies\.joint is conditioned on label vectors \(right, up\).*per_class = false"):
        Run(recipe, out_dir=tmp_path / "run", quiet=True).execute()
    assert not (tmp_path / "run" / "energies" / "right" / "checkpoint.pt").exists()


def test_a_marginal_concept_binds_no_value(quadrants):
    with pytest.raises(RecipeError, match=r"concepts\.any: a marginal concept binds no value; remove right"):
        parse_recipe(RECIPE, source="q.toml", overrides=['concepts.any={energy="right", marginal=true, right=1}'])
    with pytest.raises(RecipeError, match=r"concepts\.any\.marginal = 1: expected true or false"):
        parse_recipe(RECIPE, source="q.toml", overrides=['concepts.any={energy="right", marginal=1}'])
