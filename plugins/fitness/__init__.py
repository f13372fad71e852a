"""Fitness vertical pack (placeholder until its issue)."""

from core.sdk import PluginMeta

meta = PluginMeta(name="fitness", title="Fitness & studio pack", version="0.1.0",
                  core=">=0.1,<0.2")
