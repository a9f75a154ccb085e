// Target side of the DFIR peering, deployed into the target VNet's resource group by lab.bicep.
targetScope = 'resourceGroup'

@description('Name of the target (compromised) VNet.')
param targetVnetName string

@description('Name of the peering on the target side.')
param peeringName string

@description('Resource id of the DFIR VNet.')
param remoteVnetId string

resource targetVnet 'Microsoft.Network/virtualNetworks@2023-09-01' existing = {
  name: targetVnetName
}

resource targetPeering 'Microsoft.Network/virtualNetworks/virtualNetworkPeerings@2023-09-01' = {
  parent: targetVnet
  name: peeringName
  properties: {
    remoteVirtualNetwork: {
      id: remoteVnetId
    }
    allowVirtualNetworkAccess: true
    allowForwardedTraffic: false
    allowGatewayTransit: false
    useRemoteGateways: false
  }
}
