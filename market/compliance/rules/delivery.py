"""Classification-driven delivery (分类分级), storage location (数据境内存储) and the care
raw data and sensitive personal information ask for."""

from __future__ import annotations
