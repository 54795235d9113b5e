"""The call form. Fields carry no validators: the phone service checks everything at once and its messages are put
on the fields, so a refused call keeps every value typed."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import BooleanField, HiddenField, RadioField, SelectField, StringField, TextAreaField

from portal.models.phone import CallDirection, CallOutcome

DIRECTION_CHOICES = [
    (CallDirection.inbound.value, "Inbound (the customer called)"),
    (CallDirection.outbound.value, "Outbound (we called)"),
]
OUTCOME_CHOICES = [(o.value, o.label) for o in CallOutcome]
PRIORITY_CHOICES = [("low", "Low"), ("medium", "Medium"), ("high", "High"), ("critical", "Critical")]


class CallForm(FlaskForm):
    direction = RadioField("Direction", choices=DIRECTION_CHOICES, default="inbound", validate_choice=False)
    number = StringField("Phone number (international, e.g. +44 20 7946 0000)")
    duration = StringField("Duration (mm:ss or minutes)")
    outcome = SelectField("Outcome", choices=OUTCOME_CHOICES, default="answered", validate_choice=False)
    customer_answered = BooleanField("I spoke with the customer (a reply: they see the summary)")
    summary = TextAreaField("Summary of the call")
    notes = TextAreaField("Internal notes (staff only)")
    remember_number = BooleanField("Save this number on the customer's profile")


class NewCallForm(CallForm):
    caller = HiddenField()
    ticket = RadioField("Ticket", choices=[("new", "Open a new phone ticket")], default="new", validate_choice=False)
    subject = StringField("Subject of the new ticket")
    priority = SelectField(
        "Priority of the new ticket", choices=PRIORITY_CHOICES, default="medium", validate_choice=False
    )
