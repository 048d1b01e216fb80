"""The kiosk's words in Dutch, French and English, kept apart from layout so translators touch one file.

Each msgid names where a text is used (``attract.title``), not what it says, so a wording change never
breaks a caller and the planned move to gettext .po files can keep the same ids. French uses a
no-break space (U+00A0) before ``? ! : ;`` as French typography wants; the renderer keeps such a pair
on one line and draws it as an ordinary space.
"""

from __future__ import annotations

DEFAULT_LANGUAGE = "en"

# Endonyms: a visitor looks for their own language's name, whatever language the screen is in.
LANGUAGE_NAMES: dict[str, str] = {"nl": "Nederlands", "fr": "Français", "en": "English", "de": "Deutsch"}

_NB = "\u00a0"

MESSAGES: dict[str, dict[str, str]] = {
    # ---- shared ---------------------------------------------------------------------------------
    "common.help": {"nl": "Hulp", "fr": "Aide", "en": "Help"},
    "common.back": {"nl": "Terug", "fr": "Retour", "en": "Back"},
    "common.finish": {"nl": "Afsluiten", "fr": "Terminer", "en": "Finish"},
    "common.ok": {"nl": "OK", "fr": "OK", "en": "OK"},
    "common.try_again": {"nl": "Opnieuw proberen", "fr": "Réessayer", "en": "Try again"},
    "common.contact_default": {
        "nl": "Vragen? Kom tijdens de openingsuren naar het loket van het gemeentehuis.",
        "fr": f"Des questions{_NB}? Adressez-vous au guichet de l’administration communale pendant les "
              "heures d’ouverture.",
        "en": "Questions? Ask at the town hall desk during opening hours.",
    },
    # ---- locker map -----------------------------------------------------------------------------
    "locker.name": {"nl": "Kluis {locker}", "fr": "Casier {locker}", "en": "Locker {locker}"},
    "locker.open_marker": {"nl": "OPEN", "fr": "OUVERT", "en": "OPEN"},
    "locker.where": {
        "nl": "Rij {row} van {rows} (van boven), kolom {column} (van links).",
        "fr": "Rangée {row} sur {rows} (depuis le haut), colonne {column} (depuis la gauche).",
        "en": "Row {row} of {rows} (from the top), column {column} (from the left).",
    },
    # ---- attract --------------------------------------------------------------------------------
    "attract.title": {"nl": "Welkom", "fr": "Bienvenue", "en": "Welcome"},
    "attract.subtitle": {
        "nl": "Haal hier dag en nacht uw documenten, bonnen en sleutels op of breng ze terug.",
        "fr": "Retirez ou rapportez ici vos documents, bons et clés, jour et nuit.",
        "en": "Collect or return your documents, vouchers and keys here, day and night.",
    },
    "attract.pickup": {"nl": "Ophalen", "fr": "Retirer", "en": "Collect"},
    "attract.return": {"nl": "Terugbrengen", "fr": "Rapporter", "en": "Return"},
    "attract.qr_hint": {
        "nl": "of houd uw QR-code voor de camera",
        "fr": "ou présentez votre code QR devant la caméra",
        "en": "or hold your QR code in front of the camera",
    },
    # ---- method ---------------------------------------------------------------------------------
    "method.title": {
        "nl": "Hoe wilt u zich identificeren?",
        "fr": f"Comment souhaitez-vous vous identifier{_NB}?",
        "en": "How do you want to identify yourself?",
    },
    "method.pin": {"nl": "Code intikken", "fr": "Saisir un code", "en": "Enter a code"},
    "method.qr": {"nl": "QR-code scannen", "fr": "Scanner le code QR", "en": "Scan QR code"},
    # ---- pin ------------------------------------------------------------------------------------
    "pin.instruction": {
        "nl": "Tik uw code van {length} cijfers in",
        "fr": "Tapez votre code à {length} chiffres",
        "en": "Type your {length}-digit code",
    },
    "pin.hint": {
        "nl": "U vindt de code in het bericht van het gemeentehuis.",
        "fr": "Vous trouverez le code dans le message de l’administration communale.",
        "en": "You will find the code in the message from the town hall.",
    },
    "pin.erase": {"nl": "Wissen", "fr": "Effacer", "en": "Erase"},
    "pin.ok": {"nl": "OK", "fr": "OK", "en": "OK"},
    # ---- scan -----------------------------------------------------------------------------------
    "scan.instruction": {
        "nl": "Houd uw QR-code voor de camera, onder het scherm",
        "fr": "Présentez votre code QR devant la caméra, sous l’écran",
        "en": "Hold your QR code in front of the camera, below the screen",
    },
    "scan.hint": {
        "nl": "Op papier of op uw smartphone. Houd de code even stil.",
        "fr": "Sur papier ou sur votre smartphone. Gardez le code immobile un instant.",
        "en": "On paper or on your smartphone. Hold the code still for a moment.",
    },
    # ---- checking -------------------------------------------------------------------------------
    "checking.wait": {"nl": "Een ogenblik geduld…", "fr": "Un instant, s’il vous plaît…",
                      "en": "One moment please…"},
    # ---- locker open / close door ---------------------------------------------------------------
    "locker_open.title": {"nl": "Kluis {locker} is open", "fr": "Le casier {locker} est ouvert",
                          "en": "Locker {locker} is open"},
    "locker_open.take": {
        "nl": "Neem wat voor u klaarligt en sluit de deur.",
        "fr": "Prenez ce qui vous attend et refermez la porte.",
        "en": "Take your item and close the door.",
    },
    "locker_open.retry": {
        "nl": "We proberen de deur opnieuw te openen.",
        "fr": "Nous essayons à nouveau d’ouvrir la porte.",
        "en": "We are trying again to open the door.",
    },
    "close_door.title": {
        "nl": "Sluit alstublieft de deur van kluis {locker}.",
        "fr": "Veuillez fermer la porte du casier {locker}.",
        "en": "Please close the door of locker {locker}.",
    },
    "close_door.reminder": {
        "nl": "De deur van kluis {locker} staat nog open. Sluit ze alstublieft.",
        "fr": "La porte du casier {locker} est toujours ouverte. Veuillez la fermer.",
        "en": "The door of locker {locker} is still open. Please close it.",
    },
    # ---- thanks ---------------------------------------------------------------------------------
    "thanks.title": {"nl": "Dank u wel! Nog een fijne dag.", "fr": f"Merci{_NB}! Bonne journée.",
                     "en": "Thank you! Have a nice day."},
    "thanks.reopen_hint": {
        "nl": "Iets vergeten? U kunt de kluis nog {seconds} seconden opnieuw openen.",
        "fr": f"Vous avez oublié quelque chose{_NB}? Vous pouvez rouvrir le casier pendant encore "
              "{seconds} secondes.",
        "en": "Forgot something? You can open the locker again for {seconds} seconds.",
    },
    "thanks.reopen": {"nl": "Kluis {locker} opnieuw openen", "fr": "Rouvrir le casier {locker}",
                      "en": "Open locker {locker} again"},
    # ---- error ----------------------------------------------------------------------------------
    "error.heading.code": {"nl": "Code niet aanvaard", "fr": "Code non accepté", "en": "Code not accepted"},
    "error.heading.pickup": {"nl": "Ophalen niet mogelijk", "fr": "Retrait impossible",
                             "en": "Collection not possible"},
    "error.heading.locker": {"nl": "Probleem met de kluis", "fr": "Problème de casier",
                             "en": "Problem with the locker"},
    "error.heading.internal": {"nl": "Technisch probleem", "fr": "Problème technique", "en": "Technical problem"},
    "error.unknown_code": {
        "nl": "Deze code is niet bekend. Controleer de code in uw bericht en probeer opnieuw.",
        "fr": "Ce code est inconnu. Vérifiez le code dans votre message et réessayez.",
        "en": "This code is not known. Check the code in your message and try again.",
    },
    "error.locked_out_minutes": {
        "nl": "Te veel foute pogingen. Probeer opnieuw over {minutes} min.",
        "fr": "Trop de tentatives erronées. Réessayez dans {minutes} min.",
        "en": "Too many wrong attempts. Try again in {minutes} min.",
    },
    "error.locked_out_seconds": {
        "nl": "Te veel foute pogingen. Probeer opnieuw over {seconds} seconden.",
        "fr": "Trop de tentatives erronées. Réessayez dans {seconds} secondes.",
        "en": "Too many wrong attempts. Try again in {seconds} seconds.",
    },
    "error.locked_out_later": {
        "nl": "Te veel foute pogingen. Probeer later opnieuw.",
        "fr": "Trop de tentatives erronées. Réessayez plus tard.",
        "en": "Too many wrong attempts. Try again later.",
    },
    "error.forged": {"nl": "Deze QR-code is niet geldig.", "fr": "Ce code QR n’est pas valide.",
                     "en": "This QR code is not valid."},
    "error.wrong_kiosk": {
        "nl": "Deze QR-code hoort bij een andere kiosk.",
        "fr": "Ce code QR est destiné à une autre borne.",
        "en": "This QR code is for another kiosk.",
    },
    "error.token_expired": {
        "nl": "Deze QR-code is verlopen. Vraag het gemeentehuis om een nieuwe code.",
        "fr": "Ce code QR a expiré. Demandez un nouveau code à l’administration communale.",
        "en": "This QR code has expired. Ask the town hall for a new code.",
    },
    "error.replayed": {"nl": "Deze QR-code werd al gebruikt.", "fr": "Ce code QR a déjà été utilisé.",
                       "en": "This QR code has already been used."},
    "error.malformed": {
        "nl": "Dit is geen afhaalcode van deze kiosk. Gebruik de QR-code uit uw bericht.",
        "fr": "Ce n’est pas un code de retrait de cette borne. Utilisez le code QR de votre message.",
        "en": "This is not a pickup code for this kiosk. Use the QR code from your message.",
    },
    "error.expired": {
        "nl": "Uw afhaaltermijn is verstreken. Neem contact op met het gemeentehuis.",
        "fr": "Votre délai de retrait est dépassé. Veuillez contacter l’administration communale.",
        "en": "Your pickup period has ended. Please contact the town hall.",
    },
    "error.already_collected": {
        "nl": "Dit werd al opgehaald.",
        "fr": "Cet article a déjà été retiré.",
        "en": "This item has already been collected.",
    },
    "error.cancelled": {
        "nl": "Deze reservering werd geannuleerd. Neem contact op met het gemeentehuis.",
        "fr": "Cette réservation a été annulée. Veuillez contacter l’administration communale.",
        "en": "This reservation has been cancelled. Please contact the town hall.",
    },
    "error.not_ready": {
        "nl": "Wat u komt ophalen, ligt nog niet in de kluis. U krijgt een bericht zodra het klaarligt.",
        "fr": "Votre article n’est pas encore dans le casier. Vous recevrez un message dès qu’il sera prêt.",
        "en": "Your item is not in the locker yet. You will get a message as soon as it is ready.",
    },
    "error.strong_required": {
        "nl": "Voor dit document is een identiteitscontrole met eID of itsme nodig. Dat kan nog niet aan "
              "deze kiosk; kom hiervoor naar het loket.",
        "fr": "Ce document nécessite une vérification d’identité par eID ou itsme. Ce n’est pas encore "
              f"possible à cette borne{_NB}; veuillez vous présenter au guichet.",
        "en": "This document needs an identity check with eID or itsme. That is not possible at this kiosk "
              "yet; please come to the counter.",
    },
    "error.door_not_opened": {
        "nl": "De deur van kluis {locker} is niet opengegaan. Uw spullen liggen veilig. Het personeel is "
              "verwittigd.",
        "fr": "La porte du casier {locker} ne s’est pas ouverte. Votre article reste en sécurité. Le "
              "personnel a été prévenu.",
        "en": "The door of locker {locker} did not open. Your item is still safe. Staff have been alerted.",
    },
    "error.door_not_opened_any": {
        "nl": "De deur is niet opengegaan. Uw spullen liggen veilig. Het personeel is verwittigd.",
        "fr": "La porte ne s’est pas ouverte. Votre article reste en sécurité. Le personnel a été prévenu.",
        "en": "The door did not open. Your item is still safe. Staff have been alerted.",
    },
    "error.locker_out_of_service": {
        "nl": "Deze kluis is buiten gebruik. Het personeel is verwittigd; neem contact op met het "
              "gemeentehuis.",
        "fr": f"Ce casier est hors service. Le personnel a été prévenu{_NB}; veuillez contacter "
              "l’administration communale.",
        "en": "This locker is out of service. Staff have been alerted; please contact the town hall.",
    },
    "error.internal": {
        "nl": "Er ging iets mis. Er werd niets gewijzigd.",
        "fr": "Un problème est survenu. Rien n’a été modifié.",
        "en": "Something went wrong. Nothing was changed.",
    },
    # ---- help -----------------------------------------------------------------------------------
    "help.title": {"nl": "Hulp", "fr": "Aide", "en": "Help"},
    "help.door": {
        "nl": "Gaat een deur niet open? Uw spullen blijven veilig in de kluis en het personeel wordt "
              "automatisch verwittigd.",
        "fr": f"Une porte ne s’ouvre pas{_NB}? Votre article reste en sécurité dans le casier et le "
              "personnel est prévenu automatiquement.",
        "en": "Does a door not open? Your item stays safely inside the locker and staff are alerted "
              "automatically.",
    },
    "help.code": {
        "nl": "Wordt uw code niet aanvaard? Controleer de code in uw bericht. Na enkele foute pogingen "
              "moet u even wachten.",
        "fr": f"Votre code n’est pas accepté{_NB}? Vérifiez-le dans votre message. Après plusieurs "
              "erreurs, vous devrez patienter un moment.",
        "en": "Is your code not accepted? Check it in your message. After a few wrong attempts you "
              "will have to wait a while.",
    },
    "help.locker": {"nl": "Het gaat om kluis {locker}.", "fr": "Il s’agit du casier {locker}.",
                    "en": "This is about locker {locker}."},
    # ---- timeout --------------------------------------------------------------------------------
    "timeout.title": {"nl": "Hebt u meer tijd nodig?", "fr": f"Avez-vous besoin de plus de temps{_NB}?",
                      "en": "Do you need more time?"},
    "timeout.countdown": {
        "nl": "De sessie stopt over {seconds} seconden.",
        "fr": "La session se termine dans {seconds} secondes.",
        "en": "The session ends in {seconds} seconds.",
    },
    "timeout.extend": {"nl": "Meer tijd", "fr": "Plus de temps", "en": "More time"},
    "timeout.stop": {"nl": "Stoppen", "fr": "Arrêter", "en": "Stop"},
    # ---- return ---------------------------------------------------------------------------------
    "return_info.title": {"nl": "Terugbrengen", "fr": "Rapporter un article", "en": "Returning an item"},
    "return_info.text": {
        "nl": "Terugbrengen is aan deze kiosk nog niet mogelijk. Breng het tijdens de openingsuren naar "
              "het loket van het gemeentehuis.",
        "fr": "Il n’est pas encore possible de rapporter un article à cette borne. Veuillez le déposer au "
              "guichet de l’administration communale pendant les heures d’ouverture.",
        "en": "Returning an item is not yet possible at this kiosk. Please bring it to the town hall desk "
              "during opening hours.",
    },
    # ---- out of service -------------------------------------------------------------------------
    "out_of_service.title": {
        "nl": "Deze kiosk is tijdelijk buiten gebruik",
        "fr": "Cette borne est temporairement hors service",
        "en": "This kiosk is temporarily out of service",
    },
    "out_of_service.text": {
        "nl": "Onze excuses voor het ongemak.",
        "fr": "Veuillez nous excuser pour ce désagrément.",
        "en": "We apologise for the inconvenience.",
    },
}


def translate(lang: str, msgid: str, **params: object) -> str:
    """Look up and fill in a text; an unknown msgid is a programming error and raises KeyError.

    An unknown language falls back to English rather than failing, because a config typo must not
    leave a citizen in front of a blank screen.
    """
    entry = MESSAGES[msgid]
    text = entry.get(lang) or entry[DEFAULT_LANGUAGE]
    return text.format(**params) if params else text


def language_name(lang: str) -> str:
    """The name a speaker of ``lang`` would look for on the language buttons."""
    return LANGUAGE_NAMES.get(lang, lang.upper())
