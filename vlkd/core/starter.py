"""The commented starter recipe written by ``vlkd init`` (beside it: the installed plugins' schema)."""

from __future__ import annotations

#: written next to the recipe by ``vlkd init``; the recipe's first line points editors at it
SCHEMA_FILE = "recipe.schema.json"
#: the folder the starter's ingest reads, made by ``vlkd init`` beside the recipe
STARTER_INPUTS = "images"

STARTER = """\
# yaml-language-server: $schema=recipe.schema.json
# A vlkd recipe: each stage names a plugin and its options. Stages run in this order;
# leave out the ones you do not need yet. Check it with: vlkd validate {name}.yaml
name: {name}

# Share settings between recipes: maps merge deeply, lists replace.
# extends: ../base/automotive.yaml

# The student the data is prepared for and trained (vlkd student families lists the families):
# a hub id, a local checkpoint directory, or tiny:FAMILY (a tiny random one, built offline).
student:
  model: tiny:qwen2_vl
  cutoff_len: 2048

ingest:
  plugin: files
  inputs: [{inputs}/]            # folders, globs, CSV/JSONL manifests, PDF manuals

preprocess:                    # applied in order; originals are never modified
  - plugin: exif_transpose
  - plugin: to_rgb
  - plugin: resize
    max_side: 1024

teach:
  plugin: ocr                  # offline; or: openai / anthropic (api_key: ${{env:OPENAI_API_KEY}})

# review:   {{plugin: spreadsheet}}
# split:    {{plugin: by_image}}
# format:   {{plugin: llamafactory}}
# train:    {{plugin: peft}}
# evaluate: {{plugin: student}}
# report:   {{plugin: html}}
"""


def starter_recipe(name: str) -> str:
    return STARTER.format(name=name, inputs=STARTER_INPUTS)
