/** The account and region the local stack pretends to be (moto's default account). */
export const LOCAL_ACCOUNT_ID = '123456789012';
export const LOCAL_REGION = 'us-east-1';
/** Dummy credentials: moto accepts any; the SDK only needs something to sign with. */
export const LOCAL_ACCESS_KEY_ID = 'testing';
export const LOCAL_SECRET_ACCESS_KEY = 'testing';
