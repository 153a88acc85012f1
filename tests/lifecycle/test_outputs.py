"""A model's output and Label Studio's result, both ways, for each kind of control: the regions
a batch item's output becomes, the 400 messages of an output the label config refuses, and what
a result is read back as when a prediction is judged against the ground truth."""

import pytest

from app.label_config import parse_label_config
from app.lifecycle.outputs import (
    OutputError,
    chosen,
    matches,
    output_of,
    region_id,
    shape,
    to_result,
)

TEXT = '<Text name="text" value="$text"/>'
CHOICES = f'<View>{TEXT}<Choices name="sentiment" toName="text"><Choice value="Positive"/><Choice value="Negative"/></Choices></View>'
NER = f'<View>{TEXT}<Labels name="entity" toName="text"><Label value="PER"/><Label value="ORG"/></Labels></View>'
TAXONOMY = f'<View>{TEXT}<Taxonomy name="topic" toName="text"><Choice value="Billing"/><Choice value="Bugs"/></Taxonomy></View>'
TEXTAREA = f'<View>{TEXT}<TextArea name="summary" toName="text"/></View>'
RATING = (
    f'<View>{TEXT}<Rating name="stars" toName="text"/><Number name="score" toName="text"/></View>'
)
UNFILLABLE = f'<View>{TEXT}<Relations name="links" toName="text"/><Choices name="c" toName="text"><Choice value="Y"/></Choices></View>'  # noqa: E501


def config(text: str):
    return parse_label_config(text)


def refused(label_config: str, output, data=None) -> str:
    with pytest.raises(OutputError) as error:
        to_result(config(label_config), output, data or {}, seed="s", where="items[0].output")
    return str(error.value)


# --- shape -----------------------------------------------------------------------------------


def test_shape_fills_the_first_control_a_model_can_fill_and_names_its_data():
    found = shape(UNFILLABLE, None)
    assert (found.control.name, found.data_key, found.classes) == ("c", "text", ["Y"])


def test_shape_takes_the_prompts_classes_as_the_labels_they_name_whatever_their_case():
    found = shape(CHOICES, ["negative", "NEGATIVE", "Maybe", 3])
    assert found.classes == ["Negative"]
    assert shape(CHOICES, ["Maybe"]).classes == ["Positive", "Negative"]


def test_shape_without_a_fillable_control_or_with_a_broken_config_fills_nothing():
    assert shape("<View>" + TEXT + "</View>", None).control is None
    broken = shape("<View><Text", ["A"])
    assert (broken.config, broken.control, broken.data_key, broken.classes) == (None, None, "", [])
    assert shape(None, None).control is None


def test_shape_of_a_control_without_labels_keeps_the_prompts_string_classes():
    assert shape(TEXTAREA, ["short", 1, "long"]).classes == ["short", "long"]


# --- to_result: the regions ------------------------------------------------------------------


def test_choices_become_one_region_with_a_ten_character_id_fixed_by_the_seed():
    [region] = to_result(config(CHOICES), {"sentiment": "Positive"}, {}, seed=7)
    assert region == {
        "id": region_id(7, "sentiment", 0),
        "from_name": "sentiment",
        "to_name": "text",
        "type": "choices",
        "origin": "prediction",
        "value": {"choices": ["Positive"]},
    }
    assert len(region["id"]) == 10
    assert to_result(config(CHOICES), {"sentiment": ["Positive", "Negative"]}, {}, 7)[0][
        "value"
    ] == {"choices": ["Positive", "Negative"]}
    assert region_id(8, "sentiment", 0) != region["id"]


def test_taxonomy_labels_become_paths_of_one():
    [region] = to_result(config(TAXONOMY), {"topic": ["Billing", "Bugs"]}, {}, seed=1)
    assert (region["type"], region["value"]) == ("taxonomy", {"taxonomy": [["Billing"], ["Bugs"]]})


def test_text_rating_and_number_outputs():
    [text] = to_result(config(TEXTAREA), {"summary": "Angry customer"}, {}, seed=1)
    assert (text["type"], text["value"]) == ("textarea", {"text": ["Angry customer"]})
    assert to_result(config(TEXTAREA), {"summary": ["a", "b"]}, {}, 1)[0]["value"] == {
        "text": ["a", "b"]
    }
    stars, score = to_result(config(RATING), {"stars": 4, "score": 0.5}, {}, seed=1)
    assert (stars["value"], score["value"]) == ({"rating": 4}, {"number": 0.5})
    assert (stars["type"], score["type"]) == ("rating", "number")


def test_spans_take_their_text_from_the_task_data_unless_given():
    data = {"text": "Ada met Globex"}
    output = {"entity": [{"start": 0, "end": 3, "labels": ["PER"]},
                         {"start": 8, "end": 14, "label": "ORG", "text": "GLOBEX"}]}  # fmt: skip
    first, second = to_result(config(NER), output, data, seed=2)
    assert first["value"] == {"start": 0, "end": 3, "text": "Ada", "labels": ["PER"]}
    assert second["value"] == {"start": 8, "end": 14, "text": "GLOBEX", "labels": ["ORG"]}
    assert (first["type"], first["to_name"]) == ("labels", "text")
    assert first["id"] != second["id"]


def test_spans_without_task_text_are_not_bounded_by_it():
    [span] = to_result(config(NER), {"entity": [{"start": 5, "end": 9, "labels": "PER"}]}, None, 1)
    assert span["value"] == {"start": 5, "end": 9, "text": "", "labels": ["PER"]}


# --- to_result: what it refuses ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("label_config", "output", "message"),
    [
        (CHOICES, ["Positive"], 'items[0].output: expected an object keyed by control names, got [\'Positive\'].'),
        (CHOICES, {"mood": "Positive"}, 'items[0].output.mood: the label config has no control named "mood" (it has sentiment).'),
        ("<View>" + TEXT + "</View>", {"mood": 1}, 'items[0].output.mood: the label config has no control named "mood".'),
        (UNFILLABLE, {"links": []}, "items[0].output.links: Relations controls cannot take a model's output."),
        (CHOICES, {"sentiment": "Meh"}, 'items[0].output.sentiment: "Meh" is not one of Positive, Negative.'),
        (CHOICES, {"sentiment": []}, "items[0].output.sentiment: expected a label or a list of labels, got []."),
        (CHOICES, {"sentiment": 1}, "items[0].output.sentiment: expected a label or a list of labels, got 1."),
        (TEXTAREA, {"summary": []}, "items[0].output.summary: expected a text or a list of texts, got []."),
        (TEXTAREA, {"summary": ["a", 2]}, "items[0].output.summary: expected a text or a list of texts, got ['a', 2]."),
        (RATING, {"stars": True}, "items[0].output.stars: expected a number, got True."),
        (RATING, {"score": "5"}, 'items[0].output.score: expected a number, got "5".'),
        (NER, {"entity": {"start": 0}}, "items[0].output.entity: expected a list of spans, got {'start': 0}."),
        (NER, {"entity": ["PER"]}, 'items[0].output.entity[0]: expected a span {start, end, labels}, got "PER".'),
        (NER, {"entity": [{"start": 2, "end": 1, "labels": ["PER"]}]}, "items[0].output.entity[0]: start and end must be whole numbers, 0 <= start <= end."),
        (NER, {"entity": [{"start": -1, "end": 1, "labels": ["PER"]}]}, "items[0].output.entity[0]: start and end must be whole numbers, 0 <= start <= end."),
        (NER, {"entity": [{"start": True, "end": 1, "labels": ["PER"]}]}, "items[0].output.entity[0]: start and end must be whole numbers, 0 <= start <= end."),
        (NER, {"entity": [{"start": 0, "end": False, "labels": ["PER"]}]}, "items[0].output.entity[0]: start and end must be whole numbers, 0 <= start <= end."),
        (NER, {"entity": [{"start": 0, "end": 1.5, "labels": ["PER"]}]}, "items[0].output.entity[0]: start and end must be whole numbers, 0 <= start <= end."),
        (NER, {"entity": [{"start": 0, "end": 99, "labels": ["PER"]}]}, "items[0].output.entity[0]: end 99 is past the end of the text (5)."),
        (NER, {"entity": [{"start": 0, "end": 1}]}, "items[0].output.entity[0].labels: expected a label or a list of labels, got None."),
        (NER, {"entity": [{"start": 0, "end": 1, "labels": ["PER"], "text": 5}]}, "items[0].output.entity[0].text: expected a string, got 5."),
    ],
)  # fmt: skip
def test_outputs_the_label_config_does_not_allow_are_refused_naming_the_field(
    label_config, output, message
):
    assert refused(label_config, output, {"text": "Hello"}) == message


def test_values_longer_than_80_characters_are_shortened_in_messages():
    at = "items[0].output.stars: expected a number, got "
    assert refused(RATING, {"stars": "x" * 78}) == at + '"' + "x" * 78 + '".'
    assert refused(RATING, {"stars": "x" * 79}) == at + '"' + "x" * 76 + "...."
    ones = [1] * 50
    assert refused(RATING, {"stars": ones}) == at + repr(ones)[:77] + "...."


# --- reading a result back -------------------------------------------------------------------


def control(label_config: str, name: str):
    return config(label_config).control(name)


def test_chosen_reads_the_labels_of_the_control_only():
    sentiment = control(CHOICES, "sentiment")
    result = to_result(config(CHOICES), {"sentiment": ["Positive", "Negative"]}, {}, 1)
    other = {"from_name": "elsewhere", "value": {"choices": ["Neutral"]}}
    assert chosen(
        [other, *result, "junk", {"from_name": "sentiment", "value": "x"}], sentiment
    ) == (frozenset({"Positive", "Negative"}))
    assert chosen([other], sentiment) is None
    assert chosen([{"from_name": "sentiment", "value": {"text": ["a"]}}], sentiment) is None
    assert chosen({"not": "a list"}, sentiment) is None
    assert chosen(result, None) is None


def test_chosen_reads_spans_taxonomy_paths_and_single_values():
    spans = to_result(config(NER), {"entity": [{"start": 0, "end": 3, "labels": ["PER", "ORG"]}]},
                      {"text": "Ada"}, 1)  # fmt: skip
    assert chosen(spans, control(NER, "entity")) == frozenset({(0, 3, ("ORG", "PER"))})
    paths = to_result(config(TAXONOMY), {"topic": "Bugs"}, {}, 1)
    assert chosen(paths, control(TAXONOMY, "topic")) == frozenset({("Bugs",)})
    stars = to_result(config(RATING), {"stars": 3}, {}, 1)
    assert chosen(stars, control(RATING, "stars")) == frozenset({3})


def test_a_prediction_matches_when_it_chose_what_the_ground_truth_chose():
    sentiment = control(CHOICES, "sentiment")
    positive = to_result(config(CHOICES), {"sentiment": "Positive"}, {}, 1)
    negative = to_result(config(CHOICES), {"sentiment": "Negative"}, {}, 2)
    assert matches(
        positive, to_result(config(CHOICES), {"sentiment": "Positive"}, {}, 3), sentiment
    )
    assert not matches(negative, positive, sentiment)
    assert not matches([], [], sentiment)  # a ground truth that chose nothing judges nothing
    assert not matches(positive, [], sentiment)


@pytest.mark.parametrize(
    ("label_config", "name", "output", "data"),
    [
        (CHOICES, "sentiment", {"sentiment": "Positive"}, {}),
        (CHOICES, "sentiment", {"sentiment": ["Positive", "Negative"]}, {}),
        (TAXONOMY, "topic", {"topic": "Bugs"}, {}),
        (TEXTAREA, "summary", {"summary": ["Angry customer"]}, {}),
        (RATING, "stars", {"stars": 5}, {}),
        (NER, "entity", {"entity": [{"start": 0, "end": 3, "text": "Ada", "labels": ["PER"]}]},
         {"text": "Ada met Globex"}),
    ],
)  # fmt: skip
def test_output_of_a_result_is_the_output_that_made_it(label_config, name, output, data):
    result = to_result(config(label_config), output, data, seed=1)
    assert output_of(result, control(label_config, name)) == output


def test_output_of_a_result_without_the_control_is_none():
    sentiment = control(CHOICES, "sentiment")
    assert output_of([], sentiment) is None
    assert output_of("not a list", sentiment) is None
    assert output_of([{"from_name": "sentiment", "value": {"choices": ["A"]}}], None) is None
    links = control(UNFILLABLE, "links")
    assert output_of([{"from_name": "links", "value": {"relations": []}}], links) is None


def test_chosen_reads_a_control_no_model_fills_by_its_lowercased_type():
    image = '<View><Image name="img" value="$image"/><RectangleLabels name="box" toName="img"><Label value="Car"/></RectangleLabels></View>'  # noqa: E501
    box = control(image, "box")
    region = {"from_name": "box", "value": {"x": 1, "y": 2, "rectanglelabels": ["Car"]}}
    assert chosen([region], box) == frozenset({"Car"})
    assert chosen([{"from_name": "box", "value": {"RECTANGLELABELS": ["Car"]}}], box) is None
