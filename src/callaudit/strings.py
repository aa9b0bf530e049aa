"""Every string a user reads, one table per language (`--lang zh|en`).

The terminal, the HTML pages and the exports take their words from here, and the rules
write a finding's detail as a key and its values (`Detail`), so a result judged in one
language can be shown in the other. Rule messages are the rule pack's own (zh/en in YAML).
Add a language by adding a table with the same keys (tests/render/test_render.py checks that).
"""

from __future__ import annotations

import string
from dataclasses import dataclass, field
from typing import Any

LANGS = ("zh", "en")

ROLES: dict[str, dict[str, str]] = {
    "zh": {"agent": "坐席", "customer": "客户", "unknown": "未知", "any": "双方"},
    "en": {"agent": "agent", "customer": "caller", "unknown": "unknown", "any": "either party"},
}
# the two sides of a call, as roles.py names them
SIDES: dict[str, dict[str, str]] = {
    "zh": {"left": "左声道", "right": "右声道", "mono": "单声道", "speaker_1": "说话人1",
           "speaker_2": "说话人2"},
    "en": {"left": "left channel", "right": "right channel", "mono": "mono", "speaker_1": "speaker 1",
           "speaker_2": "speaker 2"},
}

LABELS: dict[str, dict[str, str]] = {
    "zh": {"score": "得分", "passed": "通过", "failed": "不通过", "fatal": "致命违规",
           "no_speech": "无语音", "not_connected": "未接通", "not_audited": "未作为通话审核",
           "not_party": "非本方声音", "system": "系统语音", "echo": "回声", "background": "背景人声",
           "not_speech": "非语音",
           "personal_data": "个人信息", "masked": "已遮蔽", "not_masked": "未遮蔽，--redact 遮蔽",
           "raised_voice": "嗓音高于通话开始",
           "tone_ringback": "回铃音", "tone_busy": "忙音", "tone_dtmf": "按键音", "tone_music": "音乐",
           "tone_noise": "噪声",
           "failed_rules": "扣分项", "none": "无", "review": "待复核",
           "scorecard": "评分表", "timeline": "时间轴", "transcript": "通话文本",
           "metrics": "指标与规范", "rule": "规则", "result": "结果", "deduction": "扣分",
           "evidence": "证据", "na": "不适用", "pass": "通过", "fail": "未通过",
           "agent": "坐席", "customer": "客户", "unknown": "未知", "silence": "静音",
           "hold": "保持", "wait": "等待", "dead_air": "死寂", "overlap": "抢话", "ring": "回铃",
           "pre_answer": "接通前（回铃、彩铃或系统提示）",
           "answer": "应答", "file": "文件", "duration": "时长", "call": "通话",
           "day": "日期", "norm": "规范", "value": "实测", "audio_missing": "未附录音",
           "versions": "版本", "v_audit": "程序", "v_model": "模型", "v_rules": "规则",
           "dashboard": "质检日报", "calls": "通话数", "hours": "音频小时", "pass_rate": "通过率",
           "fatal_calls": "致命违规通话", "avg_score": "平均分", "agents": "坐席统计",
           "rules": "规则失败率", "worst": "最低分通话", "unreadable": "无法质检的文件",
           "all": "全部", "distribution": "得分分布", "speech_rate": "语速(字/分钟)",
           "top_failures": "常见扣分项", "error": "错误", "per_minute": "每分钟语速",
           "level_per_minute": "每分钟音量 (dBFS)", "talk_ratio": "说话占比",
           "judged_with": "评分规则", "default_norms": "未记录评分规则，按默认规则显示",
           "agent_channel": "坐席声道", "channels": "声道",
           "precision": "复核精度 (已复核)", "lines": "各业务线", "line": "业务线"},
    "en": {"score": "Score", "passed": "PASS", "failed": "FAIL", "fatal": "FATAL",
           "no_speech": "NO SPEECH", "not_connected": "NOT CONNECTED",
           "not_audited": "not audited as a call",
           "not_party": "not the party", "system": "system audio", "echo": "echo",
           "background": "background voice", "not_speech": "not speech",
           "personal_data": "personal data", "masked": "masked",
           "raised_voice": "voice raised over the call's start",
           "not_masked": "not masked: --redact masks it",
           "tone_ringback": "ringback", "tone_busy": "busy tone", "tone_dtmf": "DTMF", "tone_music": "music",
           "tone_noise": "noise",
           "failed_rules": "Failed rules", "none": "none", "review": "needs review",
           "scorecard": "Scorecard", "timeline": "Timeline", "transcript": "Transcript",
           "metrics": "Metrics against norms", "rule": "Rule", "result": "Result",
           "deduction": "Points", "evidence": "Evidence", "na": "n/a", "pass": "pass",
           "fail": "fail", "agent": "Agent", "customer": "Caller", "unknown": "Unknown",
           "silence": "silence", "hold": "hold", "wait": "wait", "dead_air": "dead air",
           "overlap": "overlap", "ring": "ringback",
           "pre_answer": "before the answer (ringback, music or system prompts)",
           "answer": "answer", "file": "File",
           "duration": "Duration", "call": "Call", "day": "Day", "norm": "Norm",
           "value": "Measured", "audio_missing": "audio not attached",
           "versions": "Versions", "v_audit": "program", "v_model": "model", "v_rules": "rules",
           "dashboard": "Nightly QA dashboard", "calls": "Calls", "hours": "Audio hours",
           "pass_rate": "Pass rate", "fatal_calls": "Fatal calls", "avg_score": "Average score",
           "agents": "Agents", "rules": "Rule failure rates", "worst": "Lowest-scoring calls",
           "unreadable": "Files that could not be audited", "all": "all",
           "distribution": "Score distribution", "speech_rate": "Speech rate (chars/min)",
           "top_failures": "Most frequent failures", "error": "Error",
           "per_minute": "Speech rate per minute",
           "level_per_minute": "Agent level per minute (dBFS)", "talk_ratio": "talk ratio",
           "judged_with": "Judged with", "default_norms": "rules not recorded: default norms shown",
           "agent_channel": "agent", "channels": "ch",
           "precision": "Reviewed precision (reviewed)", "lines": "Business lines",
           "line": "Business line"},
}

# `audit rules try`: what a draft rule pack would change on stored calls (results/preview.py).
TRY: dict[str, dict[str, str]] = {
    "zh": {"title": "草案规则包试算（未写入任何数据）", "stored": "原评分规则", "draft": "草案",
           "rule": "规则", "section": "类别", "judged": "适用通话", "failing": "扣分通话",
           "newly_failing": "新增不通过", "newly_passing": "新增通过", "newly_na": "新增不适用",
           "newly_review": "新增待复核", "points": "扣分变化", "total": "合计",
           "calls": "通话", "changed_calls": "结论有变的通话", "pass_to_fail": "通过→不通过",
           "fail_to_pass": "不通过→通过", "mean": "平均分", "no_change": "草案不改变任何规则的结论",
           "took": "用时", "seconds": "秒", "of": "共",
           "fail": "新增不通过", "pass": "新增通过", "na": "新增不适用", "review": "新增待复核",
           "agreement": "与复核结论对照", "reviewed_calls": "已复核通话",
           "kept": "确认且仍判不通过", "lost": "确认但草案判通过",
           "still_wrong": "推翻但仍判不通过", "fixed": "推翻且草案判通过",
           "missed": "漏判（复核补充）", "caught": "草案判出", "precision": "复核精度",
           "caught_ex": "草案判出的漏判"},
    "en": {"title": "Draft rule pack tried (nothing written)", "stored": "judged with",
           "draft": "draft", "rule": "rule", "section": "section", "judged": "applies",
           "failing": "failing", "newly_failing": "newly fail", "newly_passing": "newly pass",
           "newly_na": "newly n/a", "newly_review": "newly review", "points": "points",
           "total": "total", "calls": "calls", "changed_calls": "calls changed",
           "pass_to_fail": "pass→fail", "fail_to_pass": "fail→pass", "mean": "mean score",
           "no_change": "the draft changes no rule's verdict", "took": "took", "seconds": "s",
           "of": "of", "fail": "newly fail", "pass": "newly pass", "na": "newly n/a",
           "review": "newly review", "agreement": "Against what reviewers decided",
           "reviewed_calls": "reviewed calls", "kept": "confirmed, still failed",
           "lost": "confirmed, now passed", "still_wrong": "overturned, still failed",
           "fixed": "overturned, now passed", "missed": "missed (added by reviewers)",
           "caught": "caught by the draft", "precision": "reviewed precision",
           "caught_ex": "missed, caught by the draft"},
}

# `audit summary`'s table: a header for every column results/summary.py writes (the csv and
# json keep those snake_case keys), the words of its values, and its title.
SUMMARY: dict[str, dict[str, str]] = {
    "zh": {"agent": "坐席", "rule": "规则", "day": "日期", "line": "业务线", "calls": "通话",
           "audio_hours": "音频小时", "avg_score": "平均分", "pass_rate": "通过率",
           "fatal_calls": "致命", "avg_speech_rate_cpm": "语速", "no_speech": "无语音",
           "not_connected": "未接通", "unreadable_files": "无法质检", "top_failures": "常见扣分项",
           "rule_id": "规则编号", "section": "类别", "severity": "级别", "applicable": "适用",
           "failed": "不通过", "fail_rate": "不通过率", "needs_review": "待复核",
           "points_deducted": "扣分", "reviewed": "已复核", "precision": "复核精度",
           "missed": "漏判", "low_precision": "精度低", "yes": "是", "unknown": "(未知)",
           "no_calls": "(无通话)", "by": "按{by}", "fatal": "致命", "major": "严重",
           "minor": "一般", "info": "提示", "sep": "、"},
    "en": {"agent": "Agent", "rule": "Rule", "day": "Day", "line": "Line", "calls": "Calls",
           "audio_hours": "Audio h", "avg_score": "Score", "pass_rate": "Pass",
           "fatal_calls": "Fatal", "avg_speech_rate_cpm": "Chars/min", "no_speech": "No speech",
           "not_connected": "Not conn.", "unreadable_files": "Unreadable",
           "top_failures": "Top failures", "rule_id": "Rule id", "section": "Section",
           "severity": "Severity", "applicable": "Applies", "failed": "Failed",
           "fail_rate": "Fail rate", "needs_review": "Review", "points_deducted": "Points",
           "reviewed": "Reviewed", "precision": "Precision", "missed": "Missed",
           "low_precision": "Low precision", "yes": "yes", "unknown": "(unknown)",
           "no_calls": "(no calls)", "by": "by {by}", "fatal": "fatal", "major": "major",
           "minor": "minor", "info": "info", "sep": ", "},
}


def summary_word(key: str, lang: str) -> str:
    """A header or value word of `audit summary`'s table ('' keys: the key itself)."""
    return SUMMARY[_lang(lang)].get(key, key)


# The metric rows of the terminal and the call page: (key, label). Values and norms are
# formatted in render/rows.py from the result and the settings it was judged with.
METRICS: dict[str, dict[str, str]] = {
    "zh": {"answer_delay": "应答时延", "speech_rate": "坐席语速", "max_silence": "最长静音",
           "heard": "按音节", "holds": "保持", "interruptions": "抢话", "agent_level": "坐席音量",
           "rings": "声铃响", "dead_air_over": "死寂 >", "to": "至"},
    "en": {"answer_delay": "answer delay", "speech_rate": "agent speech rate", "heard": "by syllables",
           "max_silence": "longest silence", "holds": "holds", "interruptions": "interruptions",
           "agent_level": "agent level", "rings": "rings", "dead_air_over": "dead air >",
           "to": "to"},
}

# A finding's detail: why it passed, failed or does not apply. {who} is a role, shown in the
# reader's language; numbers without a format are shown as %g.
DETAILS: dict[str, dict[str, str]] = {
    "zh": {
        "agent_spoke": "坐席说了话", "not_agent_spoke": "坐席未说话",
        "customer_spoke": "客户说了话", "not_customer_spoke": "客户未说话",
        "no_speech_in_scope": "范围内没有{who}的话语",
        "found_phrase": "说了“{phrase}”（相似度 {score:.2f}）",
        "found_pattern": "说了“{match}”（模式）",
        "none_said_first": "{who}开口后{seconds}秒内未说任何规定用语",
        "none_said_last": "{who}最后{seconds}秒内未说任何规定用语",
        "none_said_call": "整通电话未说任何规定用语",
        "no_phrases": "未配置用语", "no_speech": "{who}没有说话",
        "said": "说了：“{phrases}”", "none_said": "未说",
        "no_hold": "没有保持", "no_long_hold": "没有超过致歉时限的保持",
        "never_said": "{who}没有说“{phrase}”之类的话",
        "reply_missed": "{total}次中{missed}次未回应", "reply_all": "{total}次都已回应",
        "condition_not_met": "适用条件不成立", "no_moment": "没有出现触发的情形",
        "moments_missed": "{total}次中{n}次之后未做到", "said_after_moment": "{total}次中{n}次之后出现",
        "moments_all": "{total}次之后都已做到", "condition_holds": "条件成立",
        "condition_absent": "条件不成立",
        "no_number": "客户未提供{digits}位以上的号码",
        "not_read_back": "{total}个号码中{missed}个未复述", "read_back": "{total}个号码都已复述",
        "count": "{n}次（每分钟说话{per_min:.1f}次）",
        "count_turns": "{n}次（每分钟说话{per_min:.1f}次）；{turns}轮（上限{limit}）",
        "manual": "需人工复核：暂无法从录音中判断",
        "answer_delay": "接通后{delay:.1f}秒应答（规范 ≤ {limit}秒）",
        "answer_delay_rings": "接通后{delay:.1f}秒应答，{rings}声铃响（规范 ≤ {limit}秒）",
        "too_little_speech": "坐席说话不足{seconds}秒",
        "speech_rate": "每分钟{rate:.0f}字（规范 {low}–{high}）",
        "nobody_spoke": "双方都未说话",
        "dead_air": "最长静音{longest:.1f}秒；{reported}次超过{report_s}秒，{dead}次死寂超过{dead_s}秒",
        "no_wait": "没有{seconds}秒以上的等待",
        "waits_announced": "{total}次等待中{announced}次已说明",
        "hold_reminder": "{n}段保持超过{seconds}秒未说话",
        "both_parties": "需要双方都说话",
        "slow_responses": "{n}次回应慢于{seconds}秒",
        "mono_overlaps": "单声道录音：无法判断抢话",
        "interruptions": "{n}次抢话",
        "volume": "坐席音量{level:.1f} dBFS（范围 {low} 至 {high}），削波{clipping:.2%}",
        "call_length": "{minutes:.1f}分钟（超过{limit:min}分钟复核）",
        "review_unknown_speaker": "说话人不确定（单声道）：需复核",
        "review_separation": "说话人分离不确定：需复核",
        "review_roles": "哪一方是坐席不确定：需复核",
        "found_unknown_speaker": "说了“{phrase}”，但说话人无法确定（可能是客户）",
        "counted_under": "同一句话已在{rule}扣分",
        "found_script": "整段开场/结束语与话术相符（相似度 {score:.2f}）",
        "rate_disagree": ("按文字每分钟{rate:.0f}字，按音节核每分钟{heard:.0f}字"
                          "（规范 {low}–{high}）：两者不一致"),
        "review_rate_disagree": "文字与声音测得的语速不一致：需复核",
        "none_after_request": "客户最后一次提出需求后{who}未再说话",
        "review_unheard": "该说话处有语音但未识别出文字：需复核",
        "review_near_miss": "回应听起来接近规定用语（可能误识别）：需复核",
        "review_low_confidence": "识别置信度低：需复核",
        "review_fatal_unsure": "致命违规仅有一处低置信度证据：需复核",
        "review_dense": "所依据的文字比该段语音能说出的字还多（可能是识别器写出的）：需复核",
        # who is the agent (speech/roles.py) and how a mono call was separated (diarize.py)
        "roles_forced": "由 --agent-channel 指定",
        "roles_cues": "{side}有坐席用语（得分 {score} 对 {other}）",
        "roles_first": "没有可区分的坐席用语；{side}先开口",
        "roles_unsure": "{cue_side}的坐席用语太弱（得分 {score} 对 {own}），不足以推翻先开口的{side}："
                        "以{side}为坐席，不确定",
        "roles_assumed": "没有可区分双方的语音；假定坐席为{side}",
        "roles_separated": "{method}分离：{reason}，置信度 {confidence:.2f}；坐席：{agent}",
        "roles_mono": "单声道，按用语判断：坐席 {agent} 句，客户 {customer} 句，未知 {unknown} 句",
        "roles_mono_why": "单声道，按用语判断：坐席 {agent} 句，客户 {customer} 句，未知 {unknown} 句"
                          "（{method}：{reason}）",
        "sep_too_little": "语音太少，无法分离（{windows} 个窗口）",
        "sep_one_voice": "只有一个声音（{why}）",
        "sep_one_after_smoothing": "平滑后只剩一个说话人（{why}）",
        "sep_two_voices": "两个声音（{why}，{windows} 个窗口）",
        "why_one_cluster": "只有一类", "why_no_pitch": "其中一类没有音高",
        "why_pitch": "音高中位数 {a:.0f} 对 {b:.0f} Hz", "why_similarity": "声纹相似度 {value:.2f}",
        # what is wrong with the recording itself (audio/decode.py)
        "warn_truncated": "录音不完整：文件头声明 {declared_s} 秒，实际只有 {decoded_s} 秒（文件被截断）",
        "warn_wav_size_unset": "WAV 文件头未写长度（录音中断或仍在写入）：已读取现有的 {present_s} 秒",
        "warn_wav_size_short": "WAV 文件头声明 {declared_s} 秒，文件实有 {present_s} 秒：已全部读取",
        "warn_decode_stopped": "解码在第 {at_s} 秒处出错停止（{reason}）：只审核了此前的部分",
        "warn_frames_skipped": "{frames} 帧无法解码（{reason}），已以共 {seconds} 秒静音代替",
        "warn_decode_short": "文件含 {held_s} 秒音频，只解码出 {decoded_s} 秒：只审核了这部分",
        "no_speech_none": "录音中没有语音（只有静音或噪声）",
        "layout_mono": "单声道", "layout_stereo": "双声道，每方一个声道",
        "layout_same_mix": "两个声道是同一混音（相关系数 {corr}），按单声道分离说话人",
        "layout_one_live": "只有{side}有声音，另一声道无声或只有线路噪声：按单声道混音分离说话人",
        "layout_one_voice": "只有{side}有声音，且只有一个说话人：另一方未说话",
        "no_speech_no_words": "录音中有 {seconds} 秒声音，但识别不出任何话语（噪声、音乐或无人接听）",
        "not_connected_announcement": "未接通：第 {at} 秒起运营商提示音（{kind}，{times} 次）"
                                      "“{text}”，双方没有对话",
        "not_connected_busy": "未接通：第 {at} 秒起忙音，双方没有对话",
        "not_connected_no_answer": "未接通：回铃 {rings} 声无人应答",
        "not_connected_queue": "未接通坐席：只有中心的系统提示（在排队或转接中挂断）",
        "system_phrase": "系统语音：听到“{phrase}”",
        "system_repeat": "系统语音：重复了前面的运营商提示",
        "system_head": "系统语音：运营商提示的开头",
        "echo_of": "另一声道的回声（延迟 {delay_ms} 毫秒，低 {loss_db} dB）",
        "background_voice": "背景人声：比本方声音低 {db} dB 以上，且不顾对话与对方同时说话",
    },
    "en": {
        "agent_spoke": "the agent spoke", "not_agent_spoke": "the agent never spoke",
        "customer_spoke": "the caller spoke", "not_customer_spoke": "the caller never spoke",
        "no_speech_in_scope": "no {who} speech in scope",
        "found_phrase": "found '{phrase}' (similarity {score:.2f})",
        "found_pattern": "found '{match}' (pattern)",
        "none_said_first": "none of the phrases was said in the first {seconds} s of {who} speech",
        "none_said_last": "none of the phrases was said in the last {seconds} s of {who} speech",
        "none_said_call": "none of the phrases was said in the call",
        "no_phrases": "no phrases configured", "no_speech": "no {who} speech",
        "said": "said: '{phrases}'", "none_said": "none said",
        "no_hold": "no hold", "no_long_hold": "no hold over the apology limit",
        "never_said": "the {who} never said '{phrase}' or similar",
        "reply_missed": "{missed} of {total} without the reply", "reply_all": "answered all {total}",
        "condition_not_met": "the rule's condition does not hold", "no_moment": "the moment never came",
        "moments_missed": "not done after {n} of {total}", "said_after_moment": "said after {n} of {total}",
        "moments_all": "done after all {total}", "condition_holds": "the condition holds",
        "condition_absent": "the condition does not hold",
        "no_number": "the caller gave no number of {digits}+ digits",
        "not_read_back": "{missed} of {total} numbers not read back",
        "read_back": "all {total} numbers read back",
        "count": "{n} times ({per_min:.1f}/min of speech)",
        "count_turns": "{n} times ({per_min:.1f}/min of speech); {turns} turns (limit {limit})",
        "manual": "needs a human reviewer: not measurable from the recording yet",
        "answer_delay": "{delay:.1f} s after connect (norm <= {limit} s)",
        "answer_delay_rings": "{delay:.1f} s after connect, {rings} rings (norm <= {limit} s)",
        "too_little_speech": "under {seconds} s of agent speech",
        "speech_rate": "{rate:.0f} chars/min (norm {low}-{high})",
        "nobody_spoke": "nobody spoke",
        "dead_air": "longest silence {longest:.1f} s; {reported} over {report_s} s, {dead} dead "
                    "air over {dead_s} s",
        "no_wait": "no wait of {seconds} s or more",
        "waits_announced": "{announced} of {total} waits announced",
        "hold_reminder": "{n} stretches of hold over {seconds} s without a word",
        "both_parties": "needs both parties speaking",
        "slow_responses": "{n} responses slower than {seconds} s",
        "mono_overlaps": "mono recording: overlaps cannot be seen",
        "interruptions": "{n} interruptions",
        "volume": "agent level {level:.1f} dBFS (band {low} to {high}), clipping {clipping:.2%}",
        "call_length": "{minutes:.1f} min (review over {limit:min} min)",
        "review_unknown_speaker": "speaker unsure (mono): needs review",
        "review_separation": "speaker separation unsure: needs review",
        "review_roles": "which side is the agent is unsure: needs review",
        "found_unknown_speaker": "“{phrase}” was said, by a voice that could not be placed (the caller?)",
        "counted_under": "the same words are deducted under {rule}",
        "found_script": "the whole script was said (similarity {score:.2f})",
        "rate_disagree": ("{rate:.0f} chars/min by the words, {heard:.0f} by the syllables heard "
                          "(norm {low}-{high}): they disagree"),
        "review_rate_disagree": "speech rate by the words and by the sound disagree: needs review",
        "none_after_request": "{who} said nothing after the caller's last request",
        "review_unheard": "speech where it was due, but no word recognized in it: needs review",
        "review_near_miss": "the reply sounds close to the phrase (perhaps misheard): needs review",
        "review_low_confidence": "recognized with low confidence: needs review",
        "review_fatal_unsure": "fatal on one low-confidence utterance only: needs review",
        "review_dense": "rests on text denser than its speech can hold (the recognizer's?): needs review",
        "roles_forced": "set by --agent-channel",
        "roles_cues": "agent phrases from {side} (cue score {score} vs {other})",
        "roles_first": "no distinguishing agent phrases; {side} spoke first",
        "roles_unsure": "agent phrases from {cue_side} too weak (cue score {score} vs {own}) "
                        "against {side} speaking first: {side} taken as the agent, unsurely",
        "roles_assumed": "no speech to tell the parties apart; assumed agent is {side}",
        "roles_separated": "{method} separation, {reason}, confidence {confidence:.2f}; agent: {agent}",
        "roles_mono": "mono, roles from words: {agent} agent, {customer} customer, {unknown} unknown "
                      "utterances",
        "roles_mono_why": "mono, roles from words: {agent} agent, {customer} customer, {unknown} "
                          "unknown utterances ({method}: {reason})",
        "sep_too_little": "too little speech to separate ({windows} windows)",
        "sep_one_voice": "one voice found ({why})",
        "sep_one_after_smoothing": "one speaker after smoothing ({why})",
        "sep_two_voices": "two voices ({why}, {windows} windows)",
        "why_one_cluster": "one cluster", "why_no_pitch": "no pitch in one of the clusters",
        "why_pitch": "median pitch {a:.0f} vs {b:.0f} Hz", "why_similarity": "voice similarity {value:.2f}",
        "warn_truncated": "incomplete recording: the header declares {declared_s} s, the file holds "
                          "{decoded_s} s (truncated)",
        "warn_wav_size_unset": "the WAV header gives no length (a recording cut off or still being "
                               "written): read the {present_s} s that are there",
        "warn_wav_size_short": "the WAV header declares {declared_s} s, the file holds {present_s} s: "
                               "read all of it",
        "warn_decode_stopped": "decoding stopped with an error at {at_s} s ({reason}): only the part "
                               "before it was audited",
        "warn_frames_skipped": "{frames} frames could not be decoded ({reason}): replaced by "
                               "{seconds} s of silence",
        "warn_decode_short": "the file holds {held_s} s of audio, only {decoded_s} s decoded: only "
                             "that part was audited",
        "no_speech_none": "nobody speaks in the recording (only silence or noise)",
        "layout_mono": "mono", "layout_stereo": "stereo, one party per channel",
        "layout_same_mix": "both channels carry one mix (correlation {corr}): speakers separated "
                           "as in a mono call",
        "layout_one_live": "sound on the {side} only, the other channel silent or line noise: "
                           "audited as a mono mix",
        "layout_one_voice": "sound on the {side} only, one voice in it: the other party did not speak",
        "no_speech_no_words": "{seconds} s of sound, but no words in any of it (noise, music or "
                              "an unanswered call)",
        "not_connected_announcement": "not connected: the network's announcement from {at} s "
                                      "({kind}, {times}x) \"{text}\", no exchange between the parties",
        "not_connected_busy": "not connected: busy tone from {at} s, no exchange between the parties",
        "not_connected_no_answer": "not connected: {rings} rings and no answer",
        "not_connected_queue": "never reached an agent: only the center's prompts (hung up in "
                               "the queue or the transfer)",
        "system_phrase": "system audio: heard \"{phrase}\"",
        "system_repeat": "system audio: the network's announcement said again",
        "system_head": "system audio: the opening of the network's announcement",
        "echo_of": "echo of the other channel ({delay_ms} ms late, {loss_db} dB down)",
        "background_voice": "a background voice: {db} dB or more under the party's own, "
                            "talking over the other party regardless of the conversation",
    },
}


@dataclass(frozen=True)
class Detail:
    """A finding's detail as a key of DETAILS and the values it cites."""

    key: str
    args: dict[str, Any] = field(default_factory=dict)

    def text(self, lang: str) -> str:
        return detail_text(self.key, self.args, lang)

    def to_json(self) -> dict[str, Any]:
        """{key, args}, nested details as the same; what a result stores to re-word it."""
        return {"key": self.key, "args": {k: v.to_json() if isinstance(v, Detail) else v
                                          for k, v in self.args.items()}}


def _lang(lang: str) -> str:
    return lang if lang in LANGS else "zh"


def label(key: str, lang: str) -> str:
    return LABELS[_lang(lang)].get(key, key)


def role(name: str, lang: str) -> str:
    return ROLES[_lang(lang)].get(name, name or "-")


def side(name: str, lang: str) -> str:
    """A channel side (left, right, mono, speaker_1 ...) as the reader says it."""
    return SIDES[_lang(lang)].get(name, name)


def metric_label(key: str, lang: str) -> str:
    return METRICS[_lang(lang)].get(key, key)


def detail_text(key: str, args: dict[str, Any], lang: str) -> str:
    template = DETAILS[_lang(lang)].get(key)
    if template is None:  # a key this version does not know (a newer result): show it plainly
        return key
    values = {k: _value(k, v, lang) for k, v in args.items()}
    return format_message(template, values)


def _value(name: str, v: Any, lang: str) -> Any:
    """An argument as the reader sees it: roles and sides in their language, nested details
    (a Detail or its stored {key, args}) worded too."""
    if isinstance(v, Detail):
        return v.text(lang)
    if isinstance(v, dict) and "key" in v:
        return detail_text(v["key"], v.get("args") or {}, lang)
    if name in ("who", "agent_role"):
        return role(v, lang)
    if name in ("side", "agent", "cue_side") and isinstance(v, str):
        return SIDES[_lang(lang)].get(v, v)
    return v


def stored_text(text: str, detail: dict[str, Any] | None, lang: str) -> str:
    """A stored reason in `lang` from its {key, args} when the result has them, else as stored."""
    return detail_text(detail["key"], detail.get("args") or {}, lang) if detail else text


def listed(kinds: dict[str, list[str]], sep: str = "; ") -> str:
    """name a, b, c …; name d: the first three of each kind's items (spans, mostly)."""
    return sep.join(f"{k} {', '.join(v[:3])}{' …' if len(v) > 3 else ''}" for k, v in kinds.items())


def mmss(t: float | None, tenths: bool = False) -> str:
    """Seconds as mm:ss (mm:ss.s with `tenths`); '-' for None."""
    if t is None:
        return "-"
    # round first, so 59.96 s is 01:00.0 and not 00:60.0
    t = round(max(0.0, float(t)), 1) if tenths else float(int(max(0.0, float(t))))
    return f"{int(t // 60):02d}:{t % 60:04.1f}" if tenths else f"{int(t // 60):02d}:{int(t % 60):02d}"


class _MessageFormatter(string.Formatter):
    """`{hold_reminder_s}` -> 60, `{hold_reminder_s:min}` -> 1 (minutes); numbers as %g."""

    def format_field(self, value: Any, format_spec: str) -> str:
        if format_spec == "min":
            return f"{value / 60:g}"
        if isinstance(value, (int, float)) and not format_spec:
            return f"{value:g}"
        return super().format_field(value, format_spec)


_FORMATTER = _MessageFormatter()


def format_message(template: str, values: dict[str, Any]) -> str:
    """A rule message with its `{setting}` placeholders filled from `values`."""
    return _FORMATTER.vformat(template, (), values)


def placeholders(template: str) -> list[tuple[str, str]]:
    """(name, format spec) of every `{...}` in a message template; ValueError if malformed."""
    return [(name, spec or "") for _, name, spec, _ in string.Formatter().parse(template)
            if name is not None]


# The hot words (热词) of the dashboard (results/hotwords.py; the workbench's are in
# review/words.py).
HOT: dict[str, dict[str, str]] = {
    "zh": {"hot_words": "今晚热词", "against": "对比前 {} 天", "term": "词", "calls": "通话数",
           "usual": "平常", "change": "变化", "score": "上升度", "trend": "趋势",
           "behind": "相关通话", "more": "另 {} 通", "none_rose": "没有明显上升的词",
           "none_said": "没有至少 {} 通通话说到的词",
           "by_line": "各业务线热词（对比前 {} 天）", "line": "业务线",
           "openings": "来电原因：客户前 {} 秒说的词", "share": "占比",
           "not_stored": "数据库尚未建立词表：运行一次写入命令（如 audit rescore）后再生成",
           "plain": "数据库保存的是未遮蔽的通话文本，遮蔽显示时不列热词：先运行 audit redact",
           "method": "客户说的词（分词，去掉停用词和话术用语，每通通话只计一次）。平常 = 该词在前 N 天"
                     "通话中的占比 × 今晚通话数；上升度 = (今晚 − 平常) / √(平常 + 1)；"
                     "今晚至少 {} 通才列出。",
           "no_earlier": "前 {} 天没有通话，无从比较：按今晚通话数排列"},
    "en": {"hot_words": "Hot words of the night", "against": "against the previous {} days",
           "term": "Term", "calls": "Calls", "usual": "Usual", "change": "Change",
           "score": "Rise", "trend": "Trend", "behind": "Calls", "more": "{} more",
           "none_rose": "No term rose", "none_said": "No term said in {} calls or more",
           "by_line": "Hot words by business line (previous {} days)",
           "line": "Business line", "openings": "Why callers called: their words in the first {} s",
           "share": "Share",
           "not_stored": "The database has no term table yet: run a writer command on it once "
                         "(e.g. audit rescore), then make the report again",
           "plain": "The database holds unmasked transcripts and this page masks: no hot words "
                    "until it is masked (audit redact)",
           "method": "The caller's words (segmented; stop words and the scripts' phrases left out; "
                     "once per call). Usual = the term's share of the previous N days' calls × "
                     "tonight's calls; rise = (tonight − usual) / √(usual + 1); listed from {} "
                     "calls tonight.",
           "no_earlier": "No calls in the previous {} days to compare with: by tonight's calls"},
}
