"""A label config read as Label Studio reads it: its controls with their inputs and labels
(``parsed_label_config``), the task data keys its objects read (``data_types``), and the configs
it refuses, in Label Studio's words."""

import pytest

from app.label_config import LabelConfigError, parse_label_config

CONFIG = (
    '<View><Text name="text" value="$text"/><Header value="Pick"/>'
    '<View><Choices name="sentiment" toName="text" choice="single">'
    '<View><Choice value="Positive" alias="pos"/></View>'
    '<Choice value="Negative"/><Choice value="Negative" hint="again"/><Choice/></Choices></View>'
    '<Labels name="ner" toName="text,audio"><Label value="PER" background="red"/></Labels>'
    '<Audio name="audio" value="$audio" valueType="url"/>'
    '<Paragraphs name="dialogue" valueList="$dialogue"/>'
    '<Filter name="f" toName="ner"/>'
    '<Relations><Relation value="knows"/></Relations><Choice value="stray"/>'
    '<HyperText name="page" value="Page: $html and $more"/></View>'
)


def test_controls_list_their_inputs_and_labels_as_label_studio_parses_them():
    config = parse_label_config(CONFIG)
    assert config.text == CONFIG
    # A Choice nested in a View still belongs to its Choices; an alias names the label; a label
    # given twice is listed once with the attributes of its last tag; a Filter is no control.
    assert config.parsed() == {
        "sentiment": {
            "type": "Choices",
            "to_name": ["text"],
            "inputs": [{"type": "Text", "valueType": None, "value": "text"}],
            "labels": ["pos", "Negative"],
            "labels_attrs": {
                "pos": {"value": "Positive", "alias": "pos"},
                "Negative": {"value": "Negative", "hint": "again"},
            },
        },
        "ner": {
            "type": "Labels",
            "to_name": ["text", "audio"],
            "inputs": [
                {"type": "Text", "valueType": None, "value": "text"},
                {"type": "Audio", "valueType": "url", "value": "audio"},
            ],
            "labels": ["PER"],
            "labels_attrs": {"PER": {"value": "PER", "background": "red"}},
        },
    }
    assert config.control("sentiment").attrs == {
        "name": "sentiment", "toName": "text", "choice": "single"
    }  # fmt: skip
    assert (config.control("f"), config.object("nope")) == (None, None)
    assert config.object("audio").value_type == "url"


def test_data_types_name_the_key_each_object_reads():
    # A value that is not a bare "$key" reads its first variable.
    assert parse_label_config(CONFIG).data_types() == {
        "text": "Text", "audio": "Audio", "dialogue": "Paragraphs", "html": "HyperText"
    }  # fmt: skip


@pytest.mark.parametrize(
    ("config", "data_types"),
    [
        # Of two objects reading one key, a Video keeps it, whichever comes first.
        ('<View><Video name="v" value="$clip"/><Audio name="a" value="$clip"/></View>',
         {"clip": "Video"}),
        ('<View><Audio name="a" value="$clip"/><Video name="v" value="$clip"/></View>',
         {"clip": "Video"}),
        ('<View><Audio name="a" value="$clip"/><Text name="t" value="$clip"/></View>',
         {"clip": "Text"}),
        # A value without a variable reads no key.
        ('<View><Text name="t" value="constant"/></View>', {}),
    ],
)  # fmt: skip
def test_a_key_read_by_several_objects_is_typed_by_the_last_unless_a_video_reads_it(
    config, data_types
):
    assert parse_label_config(config).data_types() == data_types


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ("", "no element found: line 1, column 0"),
        ("<View><Text></View>", "mismatched tag: line 1, column 14"),
        ('<View><Text name="a" value="$a"/><Choices name="a" toName="a"/></View>',
         "Label config contains non-unique names"),
        ('<View><Text name="a" value="$a"/><Choices name="c" toName="a,b"/></View>',
         "toName=\"b\" not found in names: ['a', 'c']"),
        ('<!DOCTYPE v [<!ENTITY x "xx">]><View>&x;</View>',
         "DTDForbidden(name='v', system_id=None, public_id=None)"),
        ('<!DOCTYPE View SYSTEM "http://example.com/v.dtd"><View/>',
         "DTDForbidden(name='View', system_id='http://example.com/v.dtd', public_id=None)"),
        ('<!DOCTYPE View PUBLIC "-//V//EN" "v.dtd"><View/>',
         "DTDForbidden(name='View', system_id='v.dtd', public_id='-//V//EN')"),
        (None, "can only parse strings"),
    ],
)  # fmt: skip
def test_a_config_label_studio_refuses_is_refused_with_its_message(config, message):
    with pytest.raises(LabelConfigError) as refused:
        parse_label_config(config)
    assert str(refused.value) == message


def test_names_in_to_name_may_list_several_tags():
    config = parse_label_config(
        '<View><Text name="a" value="$a"/><Text name="b" value="$b"/>'
        '<Choices name="c" toName="a,b"><Choice value="x"/></Choices></View>'
    )
    assert config.control("c").to_name == ["a", "b"]
