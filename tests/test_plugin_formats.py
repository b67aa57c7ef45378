"""Plugins add data formats (register_formats) and training methods (TrainingMethod) through the public API."""

from __future__ import annotations

import json

import pytest

from minillm_core.data.formats import DataError, RecordReader, sniff
from minillm_core.data.messages import RecordError
from minillm_core.plugins.hookspecs import hookimpl
from minillm_core.plugins.host import PluginHost
from minillm_core.train.methods import TrainingMethod


def qa_to_messages(record: dict) -> dict:
    if not record["answer"].strip():
        raise RecordError("answer is empty")
    return {"messages": [{"role": "user", "content": record["question"]},
                         {"role": "assistant", "content": record["answer"]}]}


class QaFormat:
    """A plugin that reads {"question", "answer"} records as SFT conversations."""

    @hookimpl
    def register_formats(self, register):
        register("qa-test", "sft", qa_to_messages, example='{"question": "...", "answer": "..."}',
                 detect=lambda record: set(record) == {"question", "answer"})


class ClashingFormat:
    @hookimpl
    def register_formats(self, register):
        register("minimind", "sft", qa_to_messages)  # a built-in name: refused, reported
        register("qa-other", "rl", qa_to_messages)  # not a kind: refused, reported


def host_with(*plugins: object) -> PluginHost:
    host = PluginHost(load_entry_points=False)
    for number, plugin in enumerate(plugins):
        host.register(plugin, name=f"plugin-{number}")
    host.skills  # noqa: B018 - collecting skills registers the formats
    return host


def test_a_plugin_format_is_read_detected_and_its_bad_records_named(tmp_path):
    host = host_with(QaFormat())
    assert host.problems == [] and host.plugin_infos()[0].formats == ["qa-test (sft)"]
    data = tmp_path / "qa.jsonl"
    data.write_text(json.dumps({"question": "What is 2 + 2?", "answer": "4."}) + "\n"
                    + json.dumps({"question": "Hi?", "answer": " "}) + "\n"
                    + json.dumps({"question": "No answer"}) + "\n")
    assert sniff(data) == ("qa-test", "sft")
    reader = RecordReader(data, "sft", lenient=True)
    assert list(reader) == [{"messages": [{"role": "user", "content": "What is 2 + 2?"},
                                          {"role": "assistant", "content": "4."}]}]
    assert reader.skipped == 2
    assert "qa.jsonl:2" in reader.errors[0] and "answer is empty" in reader.errors[0]
    assert "qa.jsonl:3" in reader.errors[1] and "KeyError" in reader.errors[1]
    with pytest.raises(DataError, match=r'qa\.jsonl:2: answer is empty; expected {"question"'):
        list(RecordReader(data, "sft", format="qa-test"))


def test_a_plugin_format_whose_output_is_not_the_normalized_shape_is_a_record_error(tmp_path):
    class Sloppy:
        @hookimpl
        def register_formats(self, register):
            register("sloppy-test", "sft", lambda record: {"messages": [{"role": "user", "content": "hi"}]})

    host_with(Sloppy())
    data = tmp_path / "sloppy.jsonl"
    data.write_text('{"anything": 1}\n')
    with pytest.raises(DataError, match=r"sloppy\.jsonl:1: .*assistant"):
        list(RecordReader(data, "sft", format="sloppy-test"))


def test_a_clashing_or_wrong_format_is_reported_and_the_built_in_one_kept(tmp_path):
    host = host_with(ClashingFormat())
    assert [(p.plugin, p.when) for p in host.problems] == [("plugin-0", "register_formats")] * 2
    assert "already reads sft records" in host.problems[0].error and "kind must be one of" in host.problems[1].error
    data = tmp_path / "mm.jsonl"
    data.write_text(json.dumps({"conversations": [{"role": "user", "content": "a"},
                                                  {"role": "assistant", "content": "b"}]}) + "\n")
    assert len(list(RecordReader(data, "sft", format="minimind"))) == 1


def test_a_training_method_checks_what_it_is_given():
    with pytest.raises(ValueError, match="kind must be one of"):
        TrainingMethod(kind="rl", trainer="m:f")
    with pytest.raises(ValueError, match="module:function"):
        TrainingMethod(kind="sft", trainer="m.f")
    with pytest.raises(ValueError, match="sample_style"):
        TrainingMethod(kind="sft", trainer="m:f", sample_style="poem")
    builder = TrainingMethod(kind="sft", trainer="minillm_core.train.stages.sft:build_trainer").build_trainer_function()
    assert builder.__name__ == "build_trainer"
