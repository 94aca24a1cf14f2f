/* Keeps the responder library non-empty until the service modules land. */
int jpki_responder_placeholder;
