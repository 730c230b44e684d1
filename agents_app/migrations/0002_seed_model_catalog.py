"""Ship the model catalog: Claude (caching on), Nova (caching off by policy) and Llama (cannot cache).

Values come from `bedrock.facts`, the one module of Bedrock facts;
re-running it updates the shipped rows in place. A platform admin changes the
policy afterwards in admin.
"""

from django.db import migrations

from bedrock.facts import CATALOG_MODEL_IDS, FAMILIES, resolve_model


def seed_catalog(apps, schema_editor):
    ModelFamily = apps.get_model("agents_app", "ModelFamily")
    FoundationModel = apps.get_model("agents_app", "FoundationModel")
    families = {}
    for facts in FAMILIES.values():
        families[facts.slug], _ = ModelFamily.objects.update_or_create(
            slug=facts.slug, defaults={"name": facts.name, "provider": facts.provider}
        )
    for model_id in CATALOG_MODEL_IDS:
        facts = resolve_model(model_id)
        family = FAMILIES[facts.family]
        FoundationModel.objects.update_or_create(
            model_id=model_id,
            defaults={
                "display_name": facts.display_name,
                "family": families[family.slug],
                "max_tokens": facts.max_output_tokens,
                "supports_prompt_caching": family.caches_by_default and facts.supports_caching,
                "cache_min_tokens": facts.cache_min_tokens,
                "cache_max_checkpoints": facts.max_checkpoints if facts.supports_caching else 0,
                "cache_fields": list(facts.cache_fields),
                "supports_tool_use": facts.supports_tool_use,
            },
        )


def unseed_catalog(apps, schema_editor):
    apps.get_model("agents_app", "FoundationModel").objects.filter(model_id__in=CATALOG_MODEL_IDS).delete()


class Migration(migrations.Migration):
    dependencies = [("agents_app", "0001_initial")]

    operations = [migrations.RunPython(seed_catalog, unseed_catalog)]
