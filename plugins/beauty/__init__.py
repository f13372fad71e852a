"""Beauty vertical pack (placeholder until its issue)."""

from core.sdk import PluginMeta

meta = PluginMeta(name="beauty", title="Beauty & spa pack", version="0.1.0", core=">=0.1,<0.2")
