-- Each member's referral code, unique, random, given at enrolment; members
-- enrolled before get one here.
ALTER TABLE members ADD COLUMN referral_code TEXT;
UPDATE members SET referral_code = upper(substr(md5(random()::text || id), 1, 12)) WHERE referral_code IS NULL;
CREATE UNIQUE INDEX members_referral_code ON members (referral_code);
