"""A call's page name fits a file system's 255 bytes whatever its call id (issue 35: 80
Chinese characters in a recorder's file name made `report --db` fail)."""

from __future__ import annotations

from pathlib import Path

from callaudit.render.html import page_name


def test_a_long_chinese_call_id_makes_a_page_name_that_can_be_written(tmp_path: Path) -> None:
    call_id = "客户张三丰投诉退款未到账" * 7 + "队列"  # 79 characters, 237 bytes
    name = page_name({"call_id": call_id, "sha256": "ab" * 32})
    assert len(name.encode("utf-8")) <= 255 and name.startswith("客户张三丰")
    assert name.endswith("-abababababab.html")
    (tmp_path / name).write_text("ok", "utf-8")  # the file system takes it
    # two calls with the same long id stay apart by their content hash
    assert name != page_name({"call_id": call_id, "sha256": "cd" * 32})


def test_a_page_name_keeps_letters_and_cuts_at_a_character(tmp_path: Path) -> None:
    name = page_name({"call_id": "A/../b c" + "é" * 200, "sha256": "0" * 64})
    assert "/" not in name and " " not in name
    name.encode("utf-8").decode("utf-8")  # no broken character
