package dotenv

import "testing"

func TestIsPlain(t *testing.T) {
	tests := []struct {
		key, value string
		plain      bool
	}{
		{"PORT", "3000", true},
		// A code by its name is a secret, a small number or not; a
		// country's, a status's is not.
		{"UNLOCK_CODE", "1234", false},
		{"OTP_CODE", "482913", false},
		{"LICENSE_CODE", "77", false},
		{"COUNTRY_CODE", "44", true},
		{"EXIT_CODE", "0", true},
		{"PIN_CODE", "4821", false},
		{"TWO_FACTOR_CODE", "123456", false},
		{"VERIFY_CODE", "991122", false},
		{"SMS_CODE", "4455", false},
		{"SIM_PUK", "1234", false},
		{"SAFE_COMBINATION", "12-34-56", false},
		// Short words and numbers that say secret: a password (PW), a
		// one-time password and its seed, a card's number and CVV, a
		// PIN's number, a social security number.
		{"ROOT_PW", "4821", false},
		{"DB_PW", "4821", false},
		{"OTP", "4821", false},
		{"TOTP_SEED", "4821", false},
		{"MFA_SEED", "123456", false},
		{"CC_CVV", "482", false},
		{"CARD_NUMBER", "4111111111111111", false},
		{"VOICEMAIL_PIN_NUMBER", "4821", false},
		{"EMPLOYEE_SSN", "123456789", false},
		// Their other spellings (helper's probe: each went into the
		// manifest in clear).
		{"SIM_PIN1", "1234", false},
		{"CC_CSC", "482", false},
		{"CARD_CID", "4821", false},
		{"TWO_FA_CODE", "123456", false},
		{"TWOFA_CODE", "123456", false},
		{"TWOFA_SEED", "123456", false},
		{"LOGIN_CODE", "123456", false},
		{"DB_PW_OLD", "4821", false},
		{"DB_PW2", "4821", false},
		{"DB_PSWD", "4821", false},
		{"ROOTPW", "4821", false},
		{"SSN_LAST4", "6789", false},
		{"SSN_LAST_4", "6789", false},
		// A switch for such a feature, and a count of cards.
		{"ENABLE_OTP", "true", true},
		{"REQUIRE_CVV", "false", true},
		{"USE_MFA_CODE", "yes", true},
		{"MAX_CARD_NUM", "5", true},
		{"MIN_CARD_NUMBER", "1", true},
		// A card's last four digits, or part of its number: secret,
		// whatever the value (README; they went into the manifest).
		{"CARD_NUMBER", "4111", false},
		{"CARDNO", "411111", false},
		{"PAYMENT_CARD_NUM", "1111", false},
		{"CARD_NUMBER_LAST4", "4242", false},
		{"BANK_ACCOUNT_NUMBER", "123456", false},
		{"ACCOUNT_NO", "12345678", false},
		{"MAX_ACCOUNT_NUM", "3", true},
		{"ENABLE_OTP", "482913", false},
		{"CARD_NUMBER", "4111 1111 1111 1111", false},
		// Configuration beside them.
		{"RANDOM_SEED", "42", true},
		{"PAGE_NUMBER", "2", true},
		{"OTP_LENGTH", "6", true},
		{"NEW_PWA", "true", true},
		// Configuration under such names stays plain: the secret-code
		// names end with CODE.
		{"OTP_CODE_LENGTH", "6", true},
		{"VERIFICATION_CODE_EXPIRY", "600", true},
		{"BACKUP_CODES_COUNT", "10", true},
		{"INVITE_CODE_REQUIRED", "false", true},
		{"ACCESS_CODE_ENABLED", "true", true},
		// Codes that are configuration.
		{"COUNTRY_CODE", "US", true},
		{"LANGUAGE_CODE", "en-us", true},
		{"CURRENCY_CODE", "EUR", true},
		{"ERROR_CODE", "E42", true},
		// Configuration by its name: a user, a database, a region, a
		// locale, a time zone; not when the value looks like a token or
		// holds a blank (a passphrase).
		{"DB_USER", "postgres", true},
		{"DB_NAME", "app", true},
		{"AWS_REGION", "us-east-1", true},
		{"LANG", "en_US.UTF-8", true},
		{"TZ", "Europe/Berlin", true},
		{"APP_NAME", "my-app", true},
		{"S3_BUCKET", "assets-prod", true},
		{"DB_USER", "u9f3K2mQ7xLp4RtZ8vWb", false},
		{"ADMIN_USER", "correct horse battery staple", false},
		{"DB_PASSWORD_USER", "postgres", false},
		// Credentials under such a name: a URL with its password, a
		// user:pass, a short key mixing letters and digits.
		{"REDIS_HOST", "redis://:supersecretpassword@redis", false},
		{"MONGO_DB", "mongodb://admin:SuperSecretPass@mongo/app", false},
		{"ELASTICSEARCH_HOST", "https://elastic:changemeplease@es.internal", false},
		{"ZAPIER_HOOK_PATH", "https://hooks.zapier.com/hooks/catch/1234567/b3x9k2p/", false},
		{"PROXY_USER", "svc:Winter2024!", false},
		{"MAILTRAP_USER", "a1b2c3d4e5f6a7", false},
		{"ADMIN_USER", "Winter2024", false},
		{"DB_HOST", "db.internal", true},
		{"CACHE_PORT", "6379", true},
		{"NODE_ENV", "development", true},
		{"RAILS_ENV", "Production", true},
		{"LOG_LEVEL", "warn", true},
		{"FEATURE_X", "true", true},
		{"EMPTY", "", true},
		{"API_URL", "https://api.example.com/v1", true},
		{"REDIS_HOST", "cache.internal:6379", true},
		{"WORKERS", "-1", true},
		{"DATABASE_URL", "postgres://app:s3cret@db/app", false},
		{"CALLBACK", "https://example.com/cb?sig=abc", false},
		{"STRIPE_KEY", "sk_live_0123456789", false},
		{"API_TOKEN", "true", false},
		{"DB_PASSWORD", "1234", false},
		{"PIN", "1234", false},
		{"SESSION_SECRET", "development", false},
		{"OPAQUE", "hunter2", false},
		{"BIG", "12345678901", false},
		{"HOSTPORT_BAD", "host:99999", false},
		{"LATIN1_URL", "http://h/caf\xe9", false},
		// The URL is the credential: a token in its path.
		{"SLACK_WEBHOOK_URL", "https://hooks.slack.com/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX9z", false},
		{"DISCORD_HOOK", "https://discord.com/api/webhooks/123456789012345678/AbCdEfGhIjKlMnOpQrStUvWxYz0123456789", false},
		{"BOT_URL", "https://api.telegram.org/bot123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw/sendMessage", false},
		// A webhook's token without a digit (one in 70 of Slack's 24
		// letters and digits), and a webhook with a short token.
		{"SLACK_URL", "https://hooks.slack.com/services/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", false},
		{"ZAPIER_WEBHOOK_URL", "https://hooks.zapier.com/hooks/catch/123456/abcdef1/", false},
		{"SLACK_WEBHOOK", "https://hooks.slack.com/services/T0/B0/x", false},
		// A hook's URL under a name that does not say so (helper's
		// probe: ZAPIER_HOOK went into the manifest in clear).
		{"ZAPIER_HOOK", "https://hooks.zapier.com/hooks/catch/1234567/b3x9k2p/", false},
		{"MAKE_SCENARIO", "https://hook.eu1.make.com/abcdefghijklmnop", false},
		{"N8N_TRIGGER", "https://n8n.internal/webhook/deploy-done", false},
		{"HOOKS_DOCS", "https://example.com/docs/hooks", true},
		// Names that say secret: a passphrase, a passcode.
		{"GPG_PASSPHRASE", "123456", false},
		{"SSH_PASS_PHRASE", "true", false},
		{"PASSCODE", "1234", false},
		{"WEBHOOKS_ENABLED", "true", true},
		{"DOCS_URL", "https://example.com/docs/getting-started-with-the-service", true},
		{"BUCKET_URL", "https://storage.googleapis.com/my-app-production-assets", true},
	}
	for _, tt := range tests {
		t.Run(tt.key, func(t *testing.T) {
			if got := IsPlain(tt.key, []byte(tt.value)); got != tt.plain {
				t.Errorf("IsPlain(%s) = %v, want %v", tt.key, got, tt.plain)
			}
		})
	}
}
