"""Names that the Rasa server, the action server, the channels and the tests share.

Kept free of Rasa imports so the action server can use them too.
"""

ESCALATION_INTENT = "report_severe_symptom"
OUT_OF_SCOPE_INTENT = "out_of_scope"
RED_FLAG_LEVEL = "red_flag_level"  # entity and slot
ESCALATION_RESPONSE = "utter_contact_provider"
DISCLAIMER_RESPONSES = ("utter_greet", "utter_disclaimer")
NLU_FALLBACK_INTENT = "nlu_fallback"
