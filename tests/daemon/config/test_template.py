import re

import yaml

from mockserver.daemon import config as cfg
from mockserver.daemon.config import MODULES, OPTIONS, parse, render_template
from mockserver.daemon.config import modules as modules_module

COMMENT = re.compile(
    r"^    (?P<key>[\w-]+):(?P<pad> +)# <(?:default: (?P<default>[^;]+); )?type: (?P<type>string|integer|list);"
    r"(?: values: (?P<values>\[[^]]*\]);)? is: (?P<is>required|optional)>$"
)


def option_lines(text):
    """{(module, key): match} for every option line of a template."""
    found, module = {}, None
    for line in text.splitlines():
        if line.startswith("- "):
            module = line[2:].rstrip(":")
        match = COMMENT.match(line)
        if match:
            found[(module, match["key"])] = match
    return found


def test_every_option_of_every_module_is_in_the_template_with_its_default():
    lines = option_lines(render_template())
    assert {module for module, _ in lines} == {"Pack", "Api", "PackConfiguration"}
    for name, options in OPTIONS.items():
        for option in options:
            match = lines[(name, option.key)]
            assert match["type"] == option.type
            assert match["is"] == ("required" if option.required else "optional")
            assert match["default"] == option.default_repr()
    assert len(lines) == sum(len(options) for options in OPTIONS.values())


def test_the_seed_lines_are_reproduced():
    text = render_template(help=False)
    expected = [
        "- Pack:",
        "    name:                                 # <type: string; is: required>",
        "    secret:                               # <type: string; is: required>",
        "    broadcast:                            # <type: string; is: required>",
        "    interface:                            # <default: '0.0.0.0'; type: string; is: optional>",
        "    port:                                 # <default: 5252; type: integer; is: optional>",
        "    interval:                             # <default: 10; type: integer; is: optional>",
        "    pack:                                 # <default: 'leader'; type: string;"
        " values: ['leader', 'follower', 'auto']; is: optional>",
        "    keepalive-interval:                   # <default: 5000; type: integer; is: optional>",
        "    dead-interval:                        # <default: 20000; type: integer; is: optional>",
        "    mcast-group:                          # <type: string; is: optional>",
        "    peers:                                # <default: []; type: list; is: optional>",
        "    server_name:                          # <default: the host name; type: string; is: optional>",
        "- PackConfiguration:",
        "    pack:                                 # <default: 'Pack'; type: string; is: optional>",
        "    ignore_modules:                       # <default: []; type: list; is: optional>",
        "    interval:                             # <default: 60; type: integer; is: optional>",
        "- Api:",
        "    listen:                               # <type: string; is: optional>",
    ]
    lines = text.splitlines()
    for line in expected:
        assert line in lines
    # The comments are aligned on one column, as in the seed.
    assert {line.index("#") for line in lines if "#" in line} == {42}


def test_help_lines_come_from_the_option_table():
    text = render_template()
    for spec in MODULES.values():
        assert f"# {spec.name}: {spec.help}" in text
        for option in spec.options:
            assert f"    # {option.help}\n    {option.key}:" in text


def test_the_template_is_a_valid_yaml_module_list():
    data = yaml.safe_load(render_template())
    assert [next(iter(item)) for item in data] == ["Pack", "Api", "PackConfiguration"]
    assert all(value is None for item in data for options in item.values() for value in options.values())


def test_the_template_with_required_values_filled_in_parses_back():
    filled = []
    for line in render_template().splitlines():
        for key, value in (("name", "lab"), ("secret", "s3cret"), ("broadcast", "198.51.100.255"),
                           ("listen", "127.0.0.1:8443")):
            if line.startswith(f"    {key}:  "):
                line = f"    {key}: {value}" + line[len(f"    {key}: {value}"):]
        filled.append(line)
    config = parse("\n".join(filled), "template.yaml")
    assert (config.pack.name, config.pack.secret, config.pack.broadcast) == ("lab", "s3cret", "198.51.100.255")
    assert config.pack.port == 5252 and config.pack.pack == "leader"
    assert config.api.listen == ("127.0.0.1", 8443) and config.api.unix is None
    assert config.pack_configuration.interval == 60
    assert [name for name, _ in config.modules] == ["Pack", "Api", "PackConfiguration"]


def test_the_template_names_only_some_modules_on_request():
    text = render_template(["PackConfiguration"], help=False)
    assert text.startswith("- PackConfiguration:\n")
    assert "- Pack:" not in text


def test_the_docstring_table_lists_every_option():
    doc = modules_module.__doc__
    for name, options in OPTIONS.items():
        assert f"**{name}**" in doc
        for option in options:
            assert re.search(rf"^{re.escape(option.key)} +{re.escape(option.attr)} +{option.type} ", doc, re.M), (
                option.key
            )


def test_the_option_attributes_are_the_fields_of_the_classes():
    import dataclasses

    for spec in MODULES.values():
        assert [option.attr for option in spec.options] == [f.name for f in dataclasses.fields(spec.cls)]


def test_the_public_api():
    for name in ("load", "parse", "ConfigError", "DaemonConfig", "PackConfig", "ApiConfig", "render_template"):
        assert name in cfg.__all__ and hasattr(cfg, name)
