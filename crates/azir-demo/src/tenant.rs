//! The fixed Contoso tenant: users, subscriptions, resources, applications and addresses.
//! Nothing here depends on the seed, so the storyline facts are stable.

use crate::rng::{name_guid, Rng};
use crate::{SUB_DEV, SUB_PROD, TENANT_ID};

pub(crate) struct User {
    pub upn: &'static str,
    pub name: &'static str,
    pub given: &'static str,
    pub surname: &'static str,
    pub job: &'static str,
    pub city: &'static str,
    pub state: &'static str,
    pub country: &'static str,
    pub lat: f64,
    pub lon: f64,
    /// Where the user works from when not in the office.
    pub home_ip: &'static str,
    pub os: &'static str,
    pub browser: &'static str,
    pub ua: &'static str,
    /// Sign-in volume relative to the others.
    pub activity: f64,
}

const UA_EDGE: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/122.0.0.0 Safari/537.36 Edg/122.0.2365.80";
const UA_CHROME_WIN: &str =
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/122.0.0.0 Safari/537.36";
const UA_SAFARI_MAC: &str = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.3.1 Safari/605.1.15";
const UA_CHROME_MAC: &str = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/122.0.0.0 Safari/537.36";

macro_rules! user {
    ($upn:expr, $name:expr, $given:expr, $sur:expr, $job:expr, $city:expr, $state:expr, $cc:expr, $lat:expr, $lon:expr, $home:expr, $os:expr, $br:expr, $ua:expr, $act:expr) => {
        User {
            upn: $upn,
            name: $name,
            given: $given,
            surname: $sur,
            job: $job,
            city: $city,
            state: $state,
            country: $cc,
            lat: $lat,
            lon: $lon,
            home_ip: $home,
            os: $os,
            browser: $br,
            ua: $ua,
            activity: $act,
        }
    };
}

pub(crate) static USERS: &[User] = &[
    user!("megan@contoso.com", "Megan Bowen", "Megan", "Bowen", "Cloud Administrator", "Redmond", "Washington", "US", 47.674, -122.1215, "73.53.118.42", "Windows10", "Edge 122.0.2365", UA_EDGE, 1.3),
    user!("rob.robertson@contoso.com", "Rob Robertson", "Rob", "Robertson", "Network Engineer", "Redmond", "Washington", "US", 47.674, -122.1215, "24.17.88.203", "Windows10", "Chrome 122.0.0", UA_CHROME_WIN, 1.1),
    user!("adele@contoso.com", "Adele Vance", "Adele", "Vance", "Security Lead", "Seattle", "Washington", "US", 47.6062, -122.3321, "98.232.14.77", "MacOs", "Safari 17.3.1", UA_SAFARI_MAC, 1.0),
    user!("alex@contoso.com", "Alex Wilber", "Alex", "Wilber", "Marketing Assistant", "Bellevue", "Washington", "US", 47.6101, -122.2015, "67.183.201.9", "Windows10", "Edge 122.0.2365", UA_EDGE, 0.9),
    user!("diego@contoso.com", "Diego Siciliani", "Diego", "Siciliani", "HR Manager", "Seattle", "Washington", "US", 47.6062, -122.3321, "73.97.164.21", "Windows10", "Edge 122.0.2365", UA_EDGE, 0.8),
    user!("grady@contoso.com", "Grady Archie", "Grady", "Archie", "Designer", "Tacoma", "Washington", "US", 47.2529, -122.4443, "50.35.77.140", "MacOs", "Chrome 122.0.0", UA_CHROME_MAC, 0.7),
    user!("henrietta@contoso.com", "Henrietta Mueller", "Henrietta", "Mueller", "Developer", "Redmond", "Washington", "US", 47.674, -122.1215, "71.227.90.33", "Windows10", "Chrome 122.0.0", UA_CHROME_WIN, 1.0),
    user!("isaiah@contoso.com", "Isaiah Langer", "Isaiah", "Langer", "Sales Rep", "Portland", "Oregon", "US", 45.5152, -122.6784, "97.113.40.158", "Windows10", "Edge 122.0.2365", UA_EDGE, 0.8),
    user!("johanna@contoso.com", "Johanna Lorenz", "Johanna", "Lorenz", "Senior Engineer", "Munich", "Bavaria", "DE", 48.1351, 11.582, "93.104.187.12", "Windows10", "Edge 122.0.2365", UA_EDGE, 0.9),
    user!("joni@contoso.com", "Joni Sherman", "Joni", "Sherman", "Paralegal", "Seattle", "Washington", "US", 47.6062, -122.3321, "76.121.9.201", "Windows10", "Edge 122.0.2365", UA_EDGE, 0.6),
    user!("lee@contoso.com", "Lee Gu", "Lee", "Gu", "Director", "Redmond", "Washington", "US", 47.674, -122.1215, "73.42.251.17", "MacOs", "Safari 17.3.1", UA_SAFARI_MAC, 0.7),
    user!("lidia@contoso.com", "Lidia Holloway", "Lidia", "Holloway", "Product Manager", "Kirkland", "Washington", "US", 47.6815, -122.2087, "174.21.66.94", "Windows10", "Edge 122.0.2365", UA_EDGE, 0.9),
    user!("lynne@contoso.com", "Lynne Robbins", "Lynne", "Robbins", "Planner", "Seattle", "Washington", "US", 47.6062, -122.3321, "67.168.33.250", "Windows10", "Chrome 122.0.0", UA_CHROME_WIN, 0.6),
    user!("miriam@contoso.com", "Miriam Graham", "Miriam", "Graham", "Director", "Redmond", "Washington", "US", 47.674, -122.1215, "24.18.140.65", "MacOs", "Chrome 122.0.0", UA_CHROME_MAC, 0.7),
    user!("nestor@contoso.com", "Nestor Wilke", "Nestor", "Wilke", "Operations Director", "Everett", "Washington", "US", 47.979, -122.2021, "73.11.205.190", "Windows10", "Edge 122.0.2365", UA_EDGE, 0.8),
    user!("patti@contoso.com", "Patti Fernandez", "Patti", "Fernandez", "President", "Seattle", "Washington", "US", 47.6062, -122.3321, "98.203.57.118", "Ios", "Mobile Safari 17.3", "Mozilla/5.0 (iPhone; CPU iPhone OS 17_3_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.3.1 Mobile/15E148 Safari/604.1", 0.6),
];

/// Rob Robertson's object id, from the seed article's Activity Log claims.
pub(crate) const ROB_OBJECT_ID: &str = "f409edeb-4d29-44b5-9763-ee9348ad91bb";

impl User {
    pub(crate) fn id(&self) -> String {
        if self.upn == "rob.robertson@contoso.com" {
            ROB_OBJECT_ID.to_string()
        } else {
            name_guid(&format!("user:{}", self.upn))
        }
    }

    pub(crate) fn device_id(&self) -> String {
        name_guid(&format!("device:{}", self.upn))
    }

    pub(crate) fn device_name(&self) -> String {
        let short = self.upn.split(['@', '.']).next().unwrap_or("pc").to_uppercase();
        format!("CONTOSO-{short}")
    }

    pub(crate) fn puid(&self) -> String {
        format!("{:016X}", crate::rng::fnv1a(self.upn) >> 4)
    }

    pub(crate) fn onprem_sid(&self) -> String {
        format!("S-1-5-21-4837261184-168309720-1886587427-{}", 1100 + crate::rng::fnv1a(self.upn) % 20_000)
    }
}

pub(crate) fn user(upn: &str) -> &'static User {
    USERS.iter().find(|u| u.upn == upn).expect("known user")
}

/// First-party applications (display name, app id, resource display name, resource id).
pub(crate) struct App {
    pub name: &'static str,
    pub id: &'static str,
    pub resource: &'static str,
    pub resource_id: &'static str,
}

pub(crate) const APP_PORTAL: App = App {
    name: "Azure Portal",
    id: "c44b4083-3bb0-49c1-b47d-974e53cbdf3c",
    resource: "Windows Azure Service Management API",
    resource_id: "797f4846-ba00-4fd7-ba43-dac1f8f63013",
};
pub(crate) const APP_CLI: App = App {
    name: "Microsoft Azure CLI",
    id: "04b07795-8ddb-461a-bbee-02f9e1bf7b46",
    resource: "Windows Azure Service Management API",
    resource_id: "797f4846-ba00-4fd7-ba43-dac1f8f63013",
};
pub(crate) const APP_OFFICE: App = App {
    name: "Microsoft Office",
    id: "d3590ed6-52b3-4102-aeff-aad2292ab01c",
    resource: "Office 365 Exchange Online",
    resource_id: "00000002-0000-0ff1-ce00-000000000000",
};
pub(crate) const BENIGN_APPS: &[(u32, App)] = &[
    (
        30,
        App {
            name: "Microsoft Teams",
            id: "1fec8e78-bce4-4aaf-ab1b-5451cc387264",
            resource: "Microsoft Teams Services",
            resource_id: "cc15fd57-2c6c-4117-a88c-83b1d56b4bbe",
        },
    ),
    (
        25,
        App {
            name: "Office 365 Exchange Online",
            id: "00000002-0000-0ff1-ce00-000000000000",
            resource: "Office 365 Exchange Online",
            resource_id: "00000002-0000-0ff1-ce00-000000000000",
        },
    ),
    (
        20,
        App {
            name: "OfficeHome",
            id: "4765445b-32c6-49b0-83e6-1d93765276ca",
            resource: "OfficeHome",
            resource_id: "4765445b-32c6-49b0-83e6-1d93765276ca",
        },
    ),
    (
        12,
        App {
            name: "Office 365 SharePoint Online",
            id: "00000003-0000-0ff1-ce00-000000000000",
            resource: "Office 365 SharePoint Online",
            resource_id: "00000003-0000-0ff1-ce00-000000000000",
        },
    ),
    (
        8,
        App {
            name: "My Apps",
            id: "2793995e-0a7d-40d7-bd35-6968ba142197",
            resource: "Microsoft Graph",
            resource_id: "00000003-0000-0000-c000-000000000000",
        },
    ),
];

/// Admins also use the portal and the CLI.
pub(crate) const ADMINS: &[&str] =
    &["megan@contoso.com", "rob.robertson@contoso.com", "adele@contoso.com", "henrietta@contoso.com"];

/// A service principal or managed identity that calls ARM, Key Vault or Storage.
pub(crate) struct Sp {
    pub name: &'static str,
}

impl Sp {
    pub(crate) fn object_id(&self) -> String {
        name_guid(&format!("sp:{}", self.name))
    }
    pub(crate) fn app_id(&self) -> String {
        name_guid(&format!("app:{}", self.name))
    }
}

pub(crate) const SP_AUTOMATION: Sp = Sp { name: "aa-contoso-automation" };
pub(crate) const SP_DEVOPS: Sp = Sp { name: "contoso-devops-pipeline" };
pub(crate) const SP_BACKUP: Sp = Sp { name: "contoso-snapshot-backup" };
pub(crate) const MI_APP: Sp = Sp { name: "vm-app-01" };

/// The attacker's backdoor application.
pub(crate) const SP_BACKDOOR: Sp = Sp { name: crate::BACKDOOR_APP };

pub(crate) fn backdoor_app_object_id() -> String {
    name_guid("application:Azure Sync Service")
}

/// Role definition ids (built-in).
pub(crate) const ROLE_OWNER: &str = "8e3af657-a8ff-443c-a75c-2fe8c4bcb635";
pub(crate) const ROLE_CONTRIBUTOR: &str = "b24988ac-6180-42a0-ab88-20f7382dd24c";
pub(crate) const ROLE_READER: &str = "acdd72a7-3385-48ef-bd42-f606fba81ae7";
pub(crate) const ROLE_GLOBAL_ADMIN_TEMPLATE: &str = "62e90394-69f5-4237-9190-012177145e10";

pub(crate) fn rid(sub: &str, rg: &str, path: &str) -> String {
    format!("/subscriptions/{sub}/resourceGroups/{rg}/providers/{path}")
}

pub(crate) struct Vm {
    pub name: &'static str,
    pub sub: &'static str,
    pub rg: &'static str,
    pub ip: &'static str,
    pub mac: &'static str,
    pub nsg: &'static str,
    pub os_disk: &'static str,
}

impl Vm {
    pub(crate) fn id(&self) -> String {
        rid(self.sub, self.rg, &format!("Microsoft.Compute/virtualMachines/{}", self.name))
    }
}

pub(crate) const VM_WEB1: Vm = Vm {
    name: "vm-web-01",
    sub: SUB_PROD,
    rg: "rg-prod-web",
    ip: "10.10.1.4",
    mac: "000D3A5C8E01",
    nsg: "nsg-web",
    os_disk: "vm-web-01_OsDisk_1_3c1f0e9a",
};
pub(crate) const VM_WEB2: Vm = Vm {
    name: "vm-web-02",
    sub: SUB_PROD,
    rg: "rg-prod-web",
    ip: "10.10.1.5",
    mac: "000D3A5C8E02",
    nsg: "nsg-web",
    os_disk: "vm-web-02_OsDisk_1_7a22b4c1",
};
pub(crate) const VM_APP: Vm = Vm {
    name: "vm-app-01",
    sub: SUB_PROD,
    rg: "rg-prod-app",
    ip: "10.10.2.4",
    mac: "000D3A5C8E03",
    nsg: "nsg-app",
    os_disk: "vm-app-01_OsDisk_1_91d0c5e2",
};
pub(crate) const VM_DB: Vm = Vm {
    name: "vm-db-01",
    sub: SUB_PROD,
    rg: "rg-prod-app",
    ip: "10.10.3.4",
    mac: "000D3A5C8E04",
    nsg: "nsg-data",
    os_disk: "vm-db-01_OsDisk_1_5be8f7d3",
};
pub(crate) const VM_DEV1: Vm = Vm {
    name: "vm-dev-01",
    sub: SUB_DEV,
    rg: "rg-dev",
    ip: "10.20.1.4",
    mac: "000D3A7F1A01",
    nsg: "nsg-dev",
    os_disk: "vm-dev-01_OsDisk_1_0c4d9e11",
};
pub(crate) const VM_DEV2: Vm = Vm {
    name: "vm-dev-02",
    sub: SUB_DEV,
    rg: "rg-dev",
    ip: "10.20.1.5",
    mac: "000D3A7F1A02",
    nsg: "nsg-dev",
    os_disk: "vm-dev-02_OsDisk_1_6f3a2b80",
};

pub(crate) const PROD_VMS: &[Vm] = &[VM_WEB1, VM_WEB2, VM_APP, VM_DB];
pub(crate) const DEV_VMS: &[Vm] = &[VM_DEV1, VM_DEV2];

/// Public addresses of Contoso (documentation range TEST-NET-1).
pub(crate) const HQ_EGRESS_IP: &str = "192.0.2.10";
pub(crate) const NAT_GW_IP: &str = "192.0.2.80";
pub(crate) const APPGW_LEGACY_PUBLIC_IP: &str = "192.0.2.101";
/// Application Gateway v2 instances in snet-appgw.
pub(crate) const APPGW_INSTANCE_IPS: &[&str] = &["10.10.0.4", "10.10.0.5"];
pub(crate) const BASTION_INSTANCE_IPS: &[&str] = &["10.10.250.4", "10.10.250.5"];

pub(crate) const KEYVAULT: &str = "kv-contoso-prod";
pub(crate) const STORAGE: &str = "stcontosodata";
pub(crate) const STORAGE_DEV: &str = "stcontosodev";

pub(crate) fn keyvault_id() -> String {
    rid(SUB_PROD, "rg-security", &format!("Microsoft.KeyVault/vaults/{KEYVAULT}"))
}
pub(crate) fn storage_id() -> String {
    rid(SUB_PROD, "rg-data", &format!("Microsoft.Storage/storageAccounts/{STORAGE}"))
}
pub(crate) fn appgw_id() -> String {
    rid(SUB_PROD, "rg-prod-web", "Microsoft.Network/applicationGateways/agw-contoso-prod")
}
pub(crate) fn appgw_legacy_id() -> String {
    rid(SUB_PROD, "rg-prod-web", "Microsoft.Network/applicationGateways/agw-contoso-legacy")
}
pub(crate) fn bastion_id() -> String {
    rid(SUB_PROD, "rg-prod-network", "Microsoft.Network/bastionHosts/bas-contoso-prod")
}
pub(crate) fn firewall_id() -> String {
    rid(SUB_DEV, "rg-dev-network", "Microsoft.Network/azureFirewalls/afw-contoso-dev")
}
pub(crate) fn nsg_id(sub: &str, rg: &str, nsg: &str) -> String {
    rid(sub, rg, &format!("Microsoft.Network/networkSecurityGroups/{nsg}"))
}

pub(crate) fn aad_resource_id() -> String {
    format!("/tenants/{TENANT_ID}/providers/Microsoft.aadiam")
}

/// Internet "background radiation": scanners that knock on every public address.
pub(crate) const NOISE_SCANNERS: &[&str] = &[
    "45.148.10.174",
    "80.94.95.228",
    "141.98.11.35",
    "185.224.128.17",
    "92.63.197.153",
    "162.142.125.221",
    "167.94.138.44",
    "194.165.16.72",
    "2.57.122.96",
    "218.92.0.112",
    "61.177.172.140",
    "103.145.13.229",
];

/// A pool of ordinary web visitors (consumer ISP-looking addresses), chosen once per seed.
pub(crate) fn visitor_pool(seed: u64, n: usize) -> Vec<String> {
    const FIRST: &[u8] = &[24, 50, 63, 66, 67, 68, 69, 71, 73, 75, 76, 96, 97, 98, 99, 107, 108, 174, 184];
    let mut rng = Rng::new(seed, "visitors");
    (0..n)
        .map(|_| format!("{}.{}.{}.{}", rng.pick(FIRST), rng.range(1, 255), rng.range(0, 256), rng.range(1, 255)))
        .collect()
}
