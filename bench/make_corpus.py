"""Write the benchmark's call scripts (bench/scripts/*.yaml): labelled two-party calls of
20 s to 5 min built from sentence pools, with the expected verdict of every rule they
exercise. tools/synth_calls.py renders them (audio + truth) with the offline TTS.

Each call draws, from a seeded random generator, whether the agent greets, states the ID,
announces holds (and how long they are), says a forbidden phrase, asks for a password,
interrupts, closes properly; how fast each party speaks; stereo or mono; ringback or not.
The expected verdicts follow from those draws, so rule agreement can be measured.

    python bench/make_corpus.py            # rewrites bench/scripts/ (deterministic)
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import yaml

OUT = Path(__file__).resolve().parent / "scripts"
N_CALLS = 12

GREETING = ["您好，这里是客户服务中心，工号{id}，很高兴为您服务。",
            "您好，客户服务中心，我是{id}号客服，请问有什么可以帮您？"]
NO_GREETING = ["说吧，什么事？", "喂，什么问题？"]
QUESTIONS = [
    "我想查一下我的订单，订单号是{num}。", "我上个月的话费好像多扣了二十块钱，帮我看一下。",
    "我家的宽带从昨天开始就上不了网了。", "我想把套餐换成便宜一点的。",
    "我的快递显示已经签收了，但是我没有收到。", "信用卡的账单日能不能改到每个月十五号？",
    "我想取消自动续费的服务。", "你们的积分怎么兑换礼品？",
]
CUSTOMER_MORE = ["好的，那大概什么时候能处理好？", "那我需要准备什么材料吗？",
                 "明白了，那费用怎么算？", "这个会不会影响我现在的使用？"]
AGENT_ANSWERS = [
    "您反映的问题我已经记录下来了，会在二十四小时内给您处理。",
    "根据系统显示，您的业务已经办理成功，下个月一号开始生效。",
    "这个问题需要技术人员上门检测，我帮您预约明天上午的时间。",
    "您可以通过我们的官方应用在线办理，操作非常简单。",
    "费用会在下个月的账单中体现，不会产生额外的手续费。",
]
HOLD_ASK = "好的，请您稍等，我为您查询一下。"
HOLD_BACK = "感谢您的耐心等待，"
HOLD_REMIND = "不好意思，还在为您查询，请您再稍等一下。"
FORBIDDEN = ["这是规定，我有什么办法。", "我也没办法，你自己去问问吧。", "你怎么还不明白？",
             "我不是已经说了吗？"]
ASK_SECRET = ["请把您的银行卡密码告诉我，我帮您核实。", "麻烦您把手机收到的验证码报一下。"]
SAFE_SECRET = "提醒您，请不要把密码和验证码告诉任何人。"
ASK_MORE = "请问还有什么可以帮您？"
FAREWELL = "感谢您的来电，祝您生活愉快，再见。"
THANKS = "没有了，谢谢。"
THANKS_REPLY = "不客气，"


def make(i: int, rng: random.Random) -> dict[str, Any]:
    greet = rng.random() > 0.2
    forbidden = rng.random() < 0.3
    secret = rng.random() < 0.2
    close = rng.random() > 0.25
    hold = rng.choice([None, None, 8.0, 20.0, 45.0, 75.0])
    announce = hold is not None and rng.random() > 0.3
    interrupt = rng.random() < 0.3
    agent_speed = rng.choice([1.0, 1.25, 1.3, 1.6])
    exchanges = rng.randint(1, 6)
    mono = rng.random() < 0.25
    ringback = rng.choice([0, 0, 0, 2, 3, 5])
    turns: list[dict[str, Any]] = []
    agent_id = f"{rng.randint(0, 999):03d}"
    turns.append({"role": "agent", "at": round(rng.uniform(0.5, 2.5), 2),
                  "text": rng.choice(GREETING if greet else NO_GREETING).format(id=agent_id)})
    q = rng.choice(QUESTIONS).format(num=rng.randint(10000, 99999))
    turns.append({"role": "customer", "after": 0.7, "text": "你好，" + q})
    if hold is not None:
        if announce:
            turns.append({"role": "agent", "after": 0.6, "text": HOLD_ASK})
        else:
            turns.append({"role": "agent", "after": 0.6, "text": "嗯，我看一下。"})
        if announce and hold > 60:  # reminders split a long hold: none longer than 60 s
            turns.append({"role": "agent", "after": 40.0, "text": HOLD_REMIND})
            turns.append({"role": "agent", "after": hold - 40.0,
                          "text": HOLD_BACK + rng.choice(AGENT_ANSWERS)})
        else:
            turns.append({"role": "agent", "after": hold,
                          "text": (HOLD_BACK if announce else "") + rng.choice(AGENT_ANSWERS)})
    else:
        turns.append({"role": "agent", "after": 0.6, "text": rng.choice(AGENT_ANSWERS)})
    for k in range(exchanges):
        long_q = rng.choice(CUSTOMER_MORE) + "还有就是" + rng.choice(QUESTIONS).format(num="12345")
        turns.append({"role": "customer", "after": 0.7, "text": long_q})
        cut = interrupt and k == 0
        text = rng.choice(AGENT_ANSWERS)
        if forbidden and k == exchanges - 1:
            text = rng.choice(FORBIDDEN) + text
        if secret and k == 0:
            text = rng.choice(ASK_SECRET)
        elif k == 1:
            text += SAFE_SECRET  # a near-miss the auditor must not flag
        turns.append({"role": "agent", "after": -1.6 if cut else 0.6, "text": text})
    if close:
        turns.append({"role": "agent", "after": 0.6, "text": ASK_MORE})
        turns.append({"role": "customer", "after": 0.7, "text": THANKS})
        turns.append({"role": "agent", "after": 0.6, "text": THANKS_REPLY + FAREWELL})
    else:
        turns.append({"role": "customer", "after": 0.7, "text": "算了，我再想想吧。"})
    expect = {
        "greeting": "pass" if greet else "fail",
        "self_id": "pass" if greet else "fail",
        "forbidden_phrase": "fail" if forbidden else "pass",
        "ask_secret": "fail" if secret else "pass",
        "ask_more": "pass" if close else "fail",
        "farewell": "pass" if close else "fail",
        "thanks_reply": "pass" if close else "n/a",
        "answer_delay": "pass",  # first words within 2.5 s of connect, at most 5 rings...
        "dead_air": "fail" if hold is not None and hold > 30 and not announce else "pass",
        "hold_before": "n/a" if hold is None else "pass" if announce else "fail",
        "hold_after": "pass" if announce else "n/a",
        "interruption": "n/a" if mono else "fail" if interrupt else "pass",
    }
    if ringback > 3:
        expect["answer_delay"] = "fail"  # more than 3 rings
    return {
        "name": f"bench_{i:02d}",
        "description": f"benchmark call {i}: generated by bench/make_corpus.py",
        "sample_rate": 8000, "layout": "mono" if mono else "stereo",
        "agent_channel": rng.choice(["left", "right"]), "telephone": True,
        "ringback": ringback,
        # a mono call's two parties are two voices (the separation must tell them apart, as
        # on a real line): the customer's vocal tract is shorter, not only its pitch lower
        "voices": {"agent": {"speed": agent_speed, "f0": 1.0},
                   "customer": {"speed": rng.choice([1.1, 1.2, 1.4]), "f0": 0.72,
                                **({"vtl": 0.72} if mono else {})}},
        "turns": turns, "tail": 1.5, "expect": expect,
    }


def main() -> None:
    rng = random.Random(20261125)
    OUT.mkdir(exist_ok=True)
    for old in OUT.glob("*.yaml"):
        old.unlink()
    for i in range(N_CALLS):
        script = make(i, rng)
        (OUT / f"{script['name']}.yaml").write_text(
            yaml.safe_dump(script, allow_unicode=True, sort_keys=False), encoding="utf-8")
    print(f"{N_CALLS} scripts in {OUT}")


if __name__ == "__main__":
    main()
