"""Prompt templates are versioned by their content."""

from django.test import SimpleTestCase

from generation.candidates import TipKind
from generation.prompting import PromptTemplate, build_messages, load_template
from generation.tests.utils import sample_context, task


class PromptTemplateTests(SimpleTestCase):
    def test_it_versions_the_template_by_name_and_content_hash(self):
        template = load_template()
        name, digest = template.version.split("-")
        self.assertEqual(name, "tips")
        self.assertEqual(len(digest), 10)
        self.assertEqual(load_template().version, template.version)  # stable across loads

    def test_it_changes_the_version_when_any_part_is_edited(self):
        template = load_template()
        for part in ("system", "user", "correction"):
            with self.subTest(part):
                edited = PromptTemplate(template.name, {**template.parts, part: template.parts[part] + " "})
                self.assertNotEqual(edited.version, template.version)

    def test_it_describes_every_tip_kind_to_the_model(self):
        # Extending TipKind without editing the prompt (and so bumping its version) fails here.
        system = load_template().parts["system"]
        for kind in TipKind.values:
            self.assertIn(f"- {kind}:", system)

    def test_it_renders_the_context_into_the_messages(self):
        context = sample_context(tasks=[task(str(i), f"Task number {i}") for i in range(40)])
        system, user = build_messages(load_template(), context, max_tips=4)
        self.assertIn("at most 4 tips", system["content"])
        self.assertIn("Open tasks: 40", user["content"])
        self.assertIn("(10 more not shown)", user["content"])
        self.assertNotIn("$", system["content"] + user["content"])  # every placeholder was filled
