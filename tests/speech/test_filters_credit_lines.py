"""Whisper's invented subtitle credits are dropped; real words that share theirs are kept
(the kind of ../shared/field f15: a caller cancelling a subscription, 订阅, vanished)."""

from __future__ import annotations

import pytest

from callaudit.speech.filters import is_credit_line

CREDITS = ["请不吝点赞 订阅 转发 打赏支持明镜与点点栏目", "字幕由Amara.org社区提供", "谢谢观看",
           "感谢观看！", "字幕志愿者 杨茜茜", "点赞订阅", "by索兰娅", "明镜与点点栏目",
           "谢谢大家收看", "中文字幕制作 某某"]
SPEECH = ["我想取消这个订阅", "我订阅的会员怎么取消", "我看不到字幕", "谢谢", "好的，谢谢您",
          "您好，请问有什么可以帮您", "订阅服务已经帮您取消了", "我们支持七天无理由退货",
          "谢谢您的支持", "这个字幕组的会员我不要了，帮我退订", "订阅", "我们关注一下", "请关注",
          "支持", "字幕不同步", "字幕没有了", "Bye bye", "bye", "好的，拜拜"]


@pytest.mark.parametrize("text", CREDITS)
def test_credit_lines_are_dropped(text: str) -> None:
    assert is_credit_line(text)


@pytest.mark.parametrize("text", SPEECH)
def test_real_words_are_kept(text: str) -> None:
    assert not is_credit_line(text)
