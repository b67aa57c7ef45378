"""The Hugging Face Hub side: reach (is the hub reachable, asked once, bounded), fetch and download
(registry datasets, resumed and verified), push (`push_to_hub`), model_card (Hub-ready model folders)."""

from minillm_core.util.lazy import lazy_exports

PUBLIC = {  # name -> the module it comes from, imported on first use
    "download_data": "minillm_core.hub.download",
    "parse_names": "minillm_core.hub.download",
    "SOURCES": "minillm_core.hub.download",
    "probe_hub": "minillm_core.hub.reach",
}
__all__ = list(PUBLIC)
__getattr__ = lazy_exports(__name__, PUBLIC)
